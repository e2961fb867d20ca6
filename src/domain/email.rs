//! The one spelling of a user's email: what is stored, looked up at login
//! and counted by the login throttle.

/// `raw` trimmed, the part before the last `@` lower-cased, and the domain
/// as IDNA writes it for DNS (UTS 46: lower-cased, fullwidth letters and
/// other compatibility forms mapped, NFC, non-ASCII labels in Punycode).
/// `li@café.fr`, `li@xn--caf-dma.fr` and `LI@ＣＡＦÉ.FR` name one mailbox;
/// only lower-cased they were three users, and a login typed in another
/// form than the account's was a 401.
///
/// Idempotent, and on an all-ASCII address the same as the lower-casing
/// used before, so stored ASCII emails keep their form. The part before the
/// `@` keeps Unicode's lower-casing (the validator takes ASCII there only;
/// a login typed otherwise matches as it did). A domain IDNA refuses (an
/// invalid `xn--` label) is only lower-cased: the validator refuses it
/// anyway, and a login with it finds no user.
pub fn normalize(raw: &str) -> String {
    let raw = raw.trim();
    let Some((local, domain)) = raw.rsplit_once('@') else {
        return raw.to_lowercase();
    };
    let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase());
    format!("{}@{domain}", local.to_lowercase())
}

/// `raw` as emails were stored before `normalize`: trimmed and lower-cased.
/// A stored email of this form whose normal form another user had already
/// was kept so at start-up (`auth::stored_emails`); a login typed so still
/// finds it (`db::users::find_for_login`).
pub fn old_form(raw: &str) -> String {
    raw.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn one_mailbox_one_spelling() {
        for typed in [
            "li@xn--caf-dma.fr",
            "li@café.fr",
            "Li@CAFÉ.fr",
            " LI@Xn--Caf-Dma.FR ",
            // Fullwidth letters, as an East Asian input method types them.
            "li@ｃａｆé.ｆｒ",
            // `e` and a combining acute accent: NFC makes it `é`.
            "li@cafe\u{301}.fr",
        ] {
            assert_eq!(normalize(typed), "li@xn--caf-dma.fr", "{typed:?}");
        }
        assert_eq!(normalize("Admin@Example.COM"), "admin@example.com");
        assert_eq!(normalize("admin@localhost"), "admin@localhost");
        assert_eq!(normalize("张伟@例子.中国"), "张伟@xn--fsqu00a.xn--fiqs8s");
    }

    #[test]
    fn it_is_idempotent_and_leaves_odd_input_lower_cased() {
        for raw in [
            "li@café.fr",
            "a.b+c@sub.example.org",
            "no-at-sign",
            "x@xn--a.com",
            "@",
            "",
        ] {
            let once = normalize(raw);
            assert_eq!(normalize(&once), once, "{raw:?}");
        }
        assert_eq!(normalize("NO-AT-SIGN"), "no-at-sign");
    }
}
