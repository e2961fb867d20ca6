//! Who may do what (API.md): `viewer` reads only; `sales` writes only the
//! customers it owns; `manager`, `admin` and `integration` write any
//! customer; only `admin` manages users.

use super::AuthUser;
use crate::domain::codes::Role;
use crate::error::ApiError;

impl AuthUser {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("only admins may do this".into()))
        }
    }

    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "this needs one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    /// May this user write a customer owned by `owner_id`?
    pub fn require_customer_write(&self, owner_id: i64) -> Result<(), ApiError> {
        match self.role {
            Role::Viewer => Err(ApiError::Forbidden("viewers have read-only access".into())),
            Role::Sales if owner_id != self.id => Err(ApiError::Forbidden(
                "sales users may change only the customers they own".into(),
            )),
            _ => Ok(()),
        }
    }

    /// May this user create a card owned by `owner_id`? A sales user creates
    /// cards only for itself; the refusal names the field (a review found
    /// "may change only the customers they own" there, naming none).
    pub fn require_card_create(&self, owner_id: i64) -> Result<(), ApiError> {
        match self.role {
            Role::Sales if owner_id != self.id => Err(ApiError::Forbidden(
                "a sales user may create cards only for itself (owner_id): leave it out or send your own id"
                    .into(),
            )),
            _ => self.require_customer_write(owner_id),
        }
    }

    /// Changing or clearing an ERP key (`external_id`) once a record has
    /// one: the ERP finds its records by that key, so its next sync would
    /// create the order again (its revenue counted twice) or a second card.
    /// Setting a key on a record without one stays open to every writer.
    pub fn require_key_change(&self, field: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Manager | Role::Integration => Ok(()),
            _ => Err(ApiError::Forbidden(format!(
                "only managers, admins and integrations may change or clear an {field} once set: \
                 the ERP matches its records by it, and its next sync would create this one again"
            ))),
        }
    }

    /// May this user delete a complaint, or make it another type? Either
    /// takes it out of the card's `open_complaints` and the at-risk signal
    /// with no trace on the card: the rep whose card it is could make a
    /// customer's complaints disappear. Resolving it and correcting its
    /// text stay with the card's rep.
    pub fn require_complaint_removal(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Manager | Role::Integration => Ok(()),
            _ => Err(ApiError::Forbidden(
                "only managers, admins and integrations may delete a complaint or change its type: \
                 a complaint stays on the customer's record (you may resolve it or correct its text)"
                    .into(),
            )),
        }
    }

    /// May this user change a plan action owned by `action_owner` on a card
    /// owned by `card_owner`? `Ok(true)`: only as the action's owner, who
    /// records its execution (status, cost, description) on a card it may not
    /// write otherwise: a plan assigns work across the team, and an action
    /// whose owner could not close it went overdue in the plan's evaluation.
    pub fn require_action_write(
        &self,
        card_owner: i64,
        action_owner: i64,
    ) -> Result<bool, ApiError> {
        match self.require_customer_write(card_owner) {
            Ok(()) => Ok(false),
            Err(_) if self.role != Role::Viewer && action_owner == self.id => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Reassigning owners is a manager's decision, not a sales rep's.
    pub fn require_owner_change(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Manager | Role::Integration => Ok(()),
            _ => Err(ApiError::Forbidden(
                "only managers, admins and integrations may reassign owners".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> AuthUser {
        AuthUser {
            id: 7,
            role,
            email: "u@x.io".into(),
            token_generation: 0,
        }
    }

    #[test]
    fn viewer_never_writes() {
        assert!(user(Role::Viewer).require_customer_write(7).is_err());
    }

    #[test]
    fn sales_writes_only_own() {
        assert!(user(Role::Sales).require_customer_write(7).is_ok());
        assert!(user(Role::Sales).require_customer_write(8).is_err());
        assert!(user(Role::Sales).require_owner_change().is_err());
        assert!(user(Role::Sales).require_card_create(7).is_ok());
        assert!(user(Role::Sales).require_card_create(8).is_err());
        assert!(user(Role::Viewer).require_card_create(7).is_err());
        assert!(user(Role::Manager).require_card_create(8).is_ok());
    }

    #[test]
    fn an_actions_owner_changes_it_on_a_card_it_does_not_own() {
        assert_eq!(
            user(Role::Sales).require_action_write(7, 9).ok(),
            Some(false)
        );
        assert_eq!(
            user(Role::Sales).require_action_write(8, 7).ok(),
            Some(true)
        );
        assert!(user(Role::Sales).require_action_write(8, 9).is_err());
        assert_eq!(
            user(Role::Manager).require_action_write(8, 9).ok(),
            Some(false)
        );
        assert!(user(Role::Viewer).require_action_write(8, 7).is_err());
        assert!(user(Role::Viewer).require_action_write(7, 7).is_err());
    }

    #[test]
    fn only_managers_admins_and_integrations_remove_complaints() {
        assert!(user(Role::Sales).require_complaint_removal().is_err());
        assert!(user(Role::Viewer).require_complaint_removal().is_err());
        assert!(user(Role::Manager).require_complaint_removal().is_ok());
        assert!(user(Role::Admin).require_complaint_removal().is_ok());
        assert!(user(Role::Integration).require_complaint_removal().is_ok());
    }

    #[test]
    fn managers_write_all() {
        assert!(user(Role::Manager).require_customer_write(8).is_ok());
        assert!(user(Role::Integration).require_customer_write(8).is_ok());
        assert!(user(Role::Manager).require_admin().is_err());
        assert!(user(Role::Admin).require_admin().is_ok());
    }
}
