//! Who is asking, and what they may do. Permission is carried in types: a use
//! case that needs an administrator takes an [`Admin`], and the only way to get
//! one is [`Principal::require_admin`].

use std::fmt;
use std::str::FromStr;

use crate::id::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    /// The wire and storage spelling: `ADMIN` or `USER`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Admin => "ADMIN",
            Self::User => "USER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ADMIN" => Ok(Self::Admin),
            "USER" => Ok(Self::User),
            _ => Err(UnknownRole),
        }
    }
}

/// An authenticated caller: the user and session an access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Id,
    pub role: Role,
    pub session_id: Id,
}

/// The caller lacks the role an action needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this action needs the ADMIN role")]
pub struct Forbidden;

impl Principal {
    /// Proof that the caller is an administrator.
    pub fn require_admin(&self) -> Result<Admin, Forbidden> {
        match self.role {
            Role::Admin => Ok(Admin(self.clone())),
            Role::User => Err(Forbidden),
        }
    }
}

/// A principal known to hold the ADMIN role; only [`Principal::require_admin`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(Principal);

impl Admin {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal { user_id: Id::generate(), role, session_id: Id::generate() }
    }

    #[test]
    fn only_an_admin_principal_becomes_admin() {
        assert!(principal(Role::Admin).require_admin().is_ok());
        assert_eq!(principal(Role::User).require_admin(), Err(Forbidden));
    }

    #[test]
    fn roles_round_trip_through_their_wire_spelling() {
        for role in [Role::Admin, Role::User] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("admin".parse::<Role>(), Err(UnknownRole));
    }
}
