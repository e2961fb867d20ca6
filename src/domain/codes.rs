//! The stable codes of the domain (DOMAIN.md), as Rust enums. Each knows its
//! wire value; `reference.rs` holds the labels and strategies.

/// Declares a code enum: serde and OpenAPI names are the wire codes.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $( #[serde(rename = $code)] $variant ),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl crate::domain::codes::Code for $name {
            const CODES: &'static [&'static str] = &[$($code),+];
            fn parse(s: &str) -> Option<Self> {
                match s { $($code => Some($name::$variant),)+ _ => None }
            }
            fn as_code(self) -> &'static str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What every code enum offers, so inputs and rows can parse any of them.
pub trait Code: Sized + Copy + 'static {
    const CODES: &'static [&'static str];
    fn parse(s: &str) -> Option<Self>;
    fn as_code(self) -> &'static str;
}

/// An ISO 4217 code's shape, as money is stored: three upper-case letters.
pub fn is_currency_code(value: &str) -> bool {
    value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())
}

/// Parses a code read back from the database; an unknown one means the data
/// was written by something else, and falls back to `default`.
pub fn from_db<T: Code>(s: &str, default: T) -> T {
    T::parse(s).unwrap_or_else(|| {
        log::warn!(
            "unknown code {s:?} in the database; using {}",
            default.as_code()
        );
        default
    })
}

code_enum!(
    /// `individual` (个人) or `organization` (企业).
    CustomerKind { Individual => "individual", Organization => "organization" }
);

code_enum!(
    /// Gender, as the customer states it.
    Gender { Female => "female", Male => "male", Other => "other", Undisclosed => "undisclosed" }
);

code_enum!(
    /// How the customer was found (寻找目标客户的方法).
    AcquisitionSource {
        RecordsAnalysis => "records_analysis",
        ColdVisit => "cold_visit",
        DirectoryLookup => "directory_lookup",
        ChainExpansion => "chain_expansion",
        Event => "event",
        Advertising => "advertising",
        TradeShow => "trade_show",
        NewMedia => "new_media",
        Referral => "referral",
    }
);

impl AcquisitionSource {
    /// Sources that come from an existing customer, who must be linked.
    pub fn needs_source_customer(self) -> bool {
        matches!(
            self,
            AcquisitionSource::Referral | AcquisitionSource::ChainExpansion
        )
    }
}

code_enum!(
    /// Personality type (目标客户的类型); each has an engagement strategy.
    PersonalityType {
        Rational => "rational",
        Emotional => "emotional",
        Reticent => "reticent",
        Sensitive => "sensitive",
        Arrogant => "arrogant",
        Indecisive => "indecisive",
    }
);

code_enum!(
    /// Social style (四种性格), an optional second axis.
    SocialStyle { Expressive => "expressive", Amiable => "amiable", Driver => "driver", Analytical => "analytical" }
);

code_enum!(
    /// Sales funnel stage (大客户销售漏斗), in order. A card moves forward
    /// freely (stages may be skipped); `won` needs a recorded purchase (a
    /// transaction above 0), and a move back down needs a `change_reason`.
    /// A move the rules refuse is a 409 naming `funnel_stage` (code
    /// `conflict`), not a 422: it depends on the card's state.
    FunnelStage { Lead => "lead", Prospect => "prospect", Ordinary => "ordinary", Key => "key", Won => "won" }
);

code_enum!(
    /// Prospect grade (准客户分级): A closes soon, B needs nurturing, C is long-term.
    ProspectGrade { A => "A", B => "B", C => "C" }
);

code_enum!(
    /// Role of a contact person in the customer organization.
    ContactRole { DecisionMaker => "decision_maker", Handler => "handler", Other => "other" }
);

code_enum!(
    /// What a user may do: `viewer` reads only; `sales` writes only the customers it owns.
    Role { Admin => "admin", Manager => "manager", Sales => "sales", Integration => "integration", Viewer => "viewer" }
);

code_enum!(
    /// A kind of touch with the customer (拜访记录 / 沟通方式).
    InteractionType {
        Visit => "visit",
        Meeting => "meeting",
        Call => "call",
        Email => "email",
        Message => "message",
        Reception => "reception",
        AppointmentCall => "appointment_call",
        Care => "care",
        Complaint => "complaint",
    }
);

code_enum!(
    /// Status of a complaint.
    ComplaintStatus { Open => "open", Resolved => "resolved" }
);

code_enum!(
    /// `actual` (现实需求) or `latent` (潜在需求).
    NeedKind { Actual => "actual", Latent => "latent" }
);

code_enum!(
    /// Why a need stays latent (潜在需求的类型).
    LatentNeedType {
        InsufficientPurchasingPower => "insufficient_purchasing_power",
        ProductShortage => "product_shortage",
        UnfamiliarWithProduct => "unfamiliar_with_product",
        CompetitiveMarket => "competitive_market",
    }
);

code_enum!(
    /// Stage of the CPR development cycle (客户开发周期).
    CprStage { NotStarted => "not_started", Conversion => "conversion", Penetration => "penetration", Retention => "retention" }
);

code_enum!(
    /// Value tier of the customer pyramid (客户分级).
    Tier { Important => "important", Secondary => "secondary", Ordinary => "ordinary", Small => "small" }
);

code_enum!(
    /// Why a customer was lost (流失原因, DOMAIN.md §10).
    ChurnReason {
        StaffTurnover => "staff_turnover",
        Competition => "competition",
        CompanyInstability => "company_instability",
        NeglectedDetails => "neglected_details",
        Integrity => "integrity",
        HarshPolicies => "harsh_policies",
        UnbalancedAttention => "unbalanced_attention",
        Natural => "natural",
    }
);

code_enum!(
    /// Status of a key-account plan. Any status may follow any other (a plan
    /// is reopened by setting `draft` or `active`); a `completed` or
    /// `cancelled` plan is closed: only its status changes, and its actions
    /// take no write (409) until it is reopened.
    AccountPlanStatus { Draft => "draft", Active => "active", Completed => "completed", Cancelled => "cancelled" }
);

code_enum!(
    /// A typical key-account measure (具体措施, DOMAIN.md §11).
    AccountPlanActionType {
        PeakSupply => "peak_supply",
        NewProductTrial => "new_product_trial",
        ExecutiveVisit => "executive_visit",
        JointPromotion => "joint_promotion",
        IncentivePolicy => "incentive_policy",
        InformationExchange => "information_exchange",
        SalesFeedback => "sales_feedback",
        KeyCustomerForum => "key_customer_forum",
    }
);

code_enum!(
    /// Status of an account-plan action.
    ActionStatus { Planned => "planned", InProgress => "in_progress", Done => "done", Cancelled => "cancelled" }
);

code_enum!(
    /// Status of a survey: `draft` (questions editable) → `open` (takes
    /// responses; questions frozen) → `closed`.
    SurveyStatus { Draft => "draft", Open => "open", Closed => "closed" }
);

code_enum!(
    /// Kind of survey question: a 5-level rating tied to a dimension, a 0–10
    /// likelihood to recommend, one choice among options, or free text.
    QuestionKind { Rating5 => "rating_5", Nps010 => "nps_0_10", SingleChoice => "single_choice", Text => "text" }
);

code_enum!(
    /// Dimension of satisfaction (三个层次).
    SatisfactionDimension { Product => "product", Service => "service", Social => "social" }
);

code_enum!(
    /// Loyalty type (客户忠诚), from attitude and behaviour; `unknown` without satisfaction data.
    LoyaltyType { High => "high", Latent => "latent", Inertial => "inertial", None => "none", Unknown => "unknown" }
);

code_enum!(
    /// Which way a rate moved between a period and the one before it (the
    /// overview's repeat-purchase rate): by at least one percentage point,
    /// else `steady`; `unknown` without both rates.
    Trend { Rising => "rising", Falling => "falling", Steady => "steady", Unknown => "unknown" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for stage in FunnelStage::ALL {
            assert_eq!(FunnelStage::parse(stage.as_str()), Some(*stage));
        }
        assert_eq!(ProspectGrade::parse("a"), None);
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
    }

    #[test]
    fn serde_uses_the_wire_codes() {
        let json = serde_json::to_string(&AcquisitionSource::ChainExpansion).unwrap_or_default();
        assert_eq!(json, "\"chain_expansion\"");
        assert!(AcquisitionSource::Referral.needs_source_customer());
        assert!(!AcquisitionSource::Event.needs_source_customer());
    }

    #[test]
    fn unknown_db_code_falls_back() {
        assert_eq!(from_db("nope", FunnelStage::Lead), FunnelStage::Lead);
        assert_eq!(from_db("won", FunnelStage::Lead), FunnelStage::Won);
    }
}
