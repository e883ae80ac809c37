//! Switching from Django: which users of a Django database `gatehouse import-django`
//! writes, and what it writes over a user an earlier run imported (README, "Switching
//! from Django"). The reading and writing are `infrastructure::django_import`'s.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::EmailAddress;

/// An account as both sides hold it: Django's `auth_user` row, or Gatehouse's `users`
/// row of the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// The encoded hash, in any of Django's formats.
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
}

/// A Gatehouse user that may stand in an import's way, or be the one it updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// Written by an earlier import: only such a user an import may update.
    pub imported: bool,
}

/// What to do with a user Django holds but Gatehouse cannot take as he is: an empty or
/// invalid email, an email another user has up to case, or an id, username or email a
/// Gatehouse user of his own already has (`--email-conflicts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Write nothing; list every conflict (the default).
    #[default]
    Abort,
    /// Import everyone else; list those left out.
    Skip,
    /// Import a user whose email is the conflict with `django-user-<id>@example.invalid`
    /// instead (he signs in by username until an admin gives him his address); leave
    /// out, and list, one whose id or username is taken.
    Placeholder,
}

impl FromStr for ConflictPolicy {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "abort" => Ok(Self::Abort),
            "skip" => Ok(Self::Skip),
            "placeholder" => Ok(Self::Placeholder),
            other => Err(format!(
                "unknown conflict policy {other:?}: abort, skip or placeholder"
            )),
        }
    }
}

/// Why a Django user cannot be imported as he is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictReason {
    EmptyEmail,
    InvalidEmail,
    /// Django user `id` (the earlier one) has the same email up to case.
    SameEmailAs {
        id: i64,
    },
    /// Gatehouse user `id`, not from Django, has the same email up to case.
    EmailTakenInGatehouse {
        id: i64,
    },
    /// Gatehouse user `id`, not from Django, has the same username.
    UsernameTakenInGatehouse {
        id: i64,
    },
    /// The Django id is a Gatehouse user's, not from Django, named `username`.
    IdTakenInGatehouse {
        username: String,
    },
}

impl ConflictReason {
    /// A placeholder address can stand in for the email, not for an id or a name.
    fn is_about_the_email(&self) -> bool {
        !matches!(
            self,
            Self::UsernameTakenInGatehouse { .. } | Self::IdTakenInGatehouse { .. }
        )
    }
}

impl fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyEmail => f.write_str("the email is empty"),
            Self::InvalidEmail => f.write_str("the email is not a valid address"),
            Self::SameEmailAs { id } => {
                write!(f, "Django user {id} has the same email up to case")
            }
            Self::EmailTakenInGatehouse { id } => {
                write!(f, "Gatehouse user {id} (not from Django) has this email")
            }
            Self::UsernameTakenInGatehouse { id } => {
                write!(f, "Gatehouse user {id} (not from Django) has this username")
            }
            Self::IdTakenInGatehouse { username } => write!(
                f,
                "the id is Gatehouse user {username:?}'s (not from Django)"
            ),
        }
    }
}

/// What became of a user in conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// `Abort`: nothing was written.
    Aborted,
    NotImported,
    /// Imported with this address instead.
    Placeholder(String),
}

/// One Django user in conflict, as the report lists him.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub reason: ConflictReason,
    pub resolution: Resolution,
}

/// The users an import writes, each with the address he is written with.
#[derive(Debug, Clone, Default)]
pub struct UserPlan {
    emails: HashMap<i64, EmailAddress>,
    pub conflicts: Vec<Conflict>,
}

impl UserPlan {
    /// The address user `id` is imported with; `None` when he is not imported.
    pub fn email_of(&self, id: i64) -> Option<&EmailAddress> {
        self.emails.get(&id)
    }

    pub fn imported(&self) -> usize {
        self.emails.len()
    }

    /// Under `Abort`, true when nothing may be written.
    pub fn aborted(&self) -> bool {
        self.conflicts
            .iter()
            .any(|c| c.resolution == Resolution::Aborted)
    }
}

/// The address a user whose own cannot be imported is given.
pub fn placeholder_email(id: i64) -> String {
    format!("django-user-{id}@example.invalid")
}

/// Decides, for every Django user (`id`, `username`, `email`), whether and with which
/// address he is imported. Of two Django users whose emails differ only in case, the
/// earlier (lower id) keeps it. A Gatehouse user not from Django keeps his id, username
/// and email; one an earlier import wrote is the Django user of his id.
pub fn plan_users(
    django: &[(i64, String, String)],
    gatehouse: &[ExistingUser],
    policy: ConflictPolicy,
) -> UserPlan {
    let importing: std::collections::HashSet<i64> = django.iter().map(|(id, ..)| *id).collect();
    let mut names = HashMap::new();
    let mut emails = HashMap::new();
    let mut ids = HashMap::new();
    for user in gatehouse {
        if user.imported && importing.contains(&user.id) {
            continue;
        }
        if !user.imported {
            ids.insert(user.id, user.username.clone());
        }
        names.insert(user.username.clone(), user.id);
        emails.insert(user.email.to_lowercase(), user.id);
    }
    let mut first_with_email: HashMap<String, i64> = HashMap::new();
    let mut plan = UserPlan::default();
    let mut sorted: Vec<&(i64, String, String)> = django.iter().collect();
    sorted.sort_by_key(|(id, ..)| *id);
    for (id, username, raw_email) in sorted {
        let parsed = EmailAddress::parse(raw_email);
        let reason = if let Some(owner) = ids.get(id) {
            Some(ConflictReason::IdTakenInGatehouse {
                username: owner.clone(),
            })
        } else if let Some(&other) = names.get(username) {
            Some(ConflictReason::UsernameTakenInGatehouse { id: other })
        } else if raw_email.trim().is_empty() {
            Some(ConflictReason::EmptyEmail)
        } else if let Ok(email) = &parsed {
            let key = email.as_str().to_lowercase();
            if let Some(&other) = emails.get(&key) {
                Some(ConflictReason::EmailTakenInGatehouse { id: other })
            } else if let Some(&earlier) = first_with_email.get(&key) {
                Some(ConflictReason::SameEmailAs { id: earlier })
            } else {
                first_with_email.insert(key, *id);
                None
            }
        } else {
            Some(ConflictReason::InvalidEmail)
        };
        let Some(reason) = reason else {
            plan.emails.insert(*id, parsed.expect("checked above"));
            continue;
        };
        let resolution = match policy {
            ConflictPolicy::Abort => Resolution::Aborted,
            ConflictPolicy::Placeholder if reason.is_about_the_email() => {
                let placeholder = placeholder_email(*id);
                plan.emails.insert(
                    *id,
                    EmailAddress::parse(&placeholder).expect("a valid address"),
                );
                Resolution::Placeholder(placeholder)
            }
            ConflictPolicy::Skip | ConflictPolicy::Placeholder => Resolution::NotImported,
        };
        plan.conflicts.push(Conflict {
            id: *id,
            username: username.clone(),
            email: raw_email.clone(),
            reason,
            resolution,
        });
    }
    if plan.aborted() {
        plan.emails.clear();
    }
    plan
}

/// A Gatehouse user an earlier import wrote, and the digest of the Django hash it
/// wrote then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub record: UserRecord,
    pub imported_digest: Vec<u8>,
}

/// What an import writes for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserWrite {
    Create(UserRecord),
    /// With `password_changed`, the password was changed in Django since the last
    /// import: taken as a password change (his sessions end).
    Update {
        record: UserRecord,
        password_changed: bool,
    },
    Unchanged,
}

/// Django is the source of truth for what it holds, with two exceptions that keep what
/// Gatehouse learnt since the last import: the later `last_login` wins, and the hash is
/// replaced only if Django's changed (`digest` is that of `django.password`), not
/// when Gatehouse upgraded it at a login.
pub fn merge(
    django: &UserRecord,
    email: &EmailAddress,
    digest: &[u8],
    stored: Option<&StoredUser>,
) -> UserWrite {
    let mut record = UserRecord {
        email: email.as_str().to_owned(),
        ..django.clone()
    };
    let Some(stored) = stored else {
        return UserWrite::Create(record);
    };
    let password_changed = stored.imported_digest != digest;
    if !password_changed {
        record.password.clone_from(&stored.record.password);
    }
    record.last_login = record.last_login.max(stored.record.last_login);
    if record == stored.record && !password_changed {
        return UserWrite::Unchanged;
    }
    UserWrite::Update {
        record,
        password_changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn django(users: &[(i64, &str, &str)]) -> Vec<(i64, String, String)> {
        users
            .iter()
            .map(|(id, name, email)| (*id, (*name).to_owned(), (*email).to_owned()))
            .collect()
    }

    fn existing(id: i64, username: &str, email: &str, imported: bool) -> ExistingUser {
        ExistingUser {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
            imported,
        }
    }

    fn reasons(plan: &UserPlan) -> Vec<(i64, ConflictReason)> {
        plan.conflicts
            .iter()
            .map(|c| (c.id, c.reason.clone()))
            .collect()
    }

    #[test]
    fn the_earlier_of_two_emails_equal_up_to_case_keeps_it_and_empty_or_invalid_ones_conflict() {
        let users = django(&[
            (7, "late", "Twin@Example.com"),
            (3, "early", "twin@example.COM"),
            (4, "blank", ""),
            (5, "blank-too", "  "),
            (6, "bad", "not-an-email"),
            (8, "fine", "fine@example.com"),
        ]);
        for policy in [ConflictPolicy::Skip, ConflictPolicy::Abort] {
            let plan = plan_users(&users, &[], policy);
            assert_eq!(
                reasons(&plan),
                [
                    (4, ConflictReason::EmptyEmail),
                    (5, ConflictReason::EmptyEmail),
                    (6, ConflictReason::InvalidEmail),
                    (7, ConflictReason::SameEmailAs { id: 3 }),
                ]
            );
            if policy == ConflictPolicy::Skip {
                assert_eq!(plan.imported(), 2);
                assert_eq!(plan.email_of(3).unwrap().as_str(), "twin@example.com");
                assert_eq!(plan.email_of(8).unwrap().as_str(), "fine@example.com");
                assert_eq!(plan.email_of(7), None);
                assert!(!plan.aborted());
            } else {
                assert!(plan.aborted());
                assert_eq!(plan.imported(), 0, "an aborted plan imports no one");
            }
        }
    }

    #[test]
    fn a_placeholder_stands_in_for_an_email_but_not_for_a_taken_id_or_name() {
        let users = django(&[
            (1, "admin", "admin@example.com"),
            (2, "taken-name", "a@example.com"),
            (3, "twin", "A@example.com"),
            (4, "blank", ""),
        ]);
        let gatehouse = [
            existing(1, "root", "root@example.com", false),
            existing(50, "taken-name", "other@example.com", false),
        ];
        let plan = plan_users(&users, &gatehouse, ConflictPolicy::Placeholder);
        assert_eq!(
            reasons(&plan),
            [
                (
                    1,
                    ConflictReason::IdTakenInGatehouse {
                        username: "root".into()
                    }
                ),
                (2, ConflictReason::UsernameTakenInGatehouse { id: 50 }),
                (4, ConflictReason::EmptyEmail),
            ]
        );
        assert_eq!(plan.conflicts[0].resolution, Resolution::NotImported);
        assert_eq!(plan.conflicts[1].resolution, Resolution::NotImported);
        assert_eq!(
            plan.email_of(4).unwrap().as_str(),
            "django-user-4@example.invalid"
        );
        assert_eq!(
            plan.conflicts[2].resolution,
            Resolution::Placeholder("django-user-4@example.invalid".into())
        );
        assert_eq!(
            plan.email_of(3).unwrap().as_str(),
            "A@example.com",
            "user 2 was not imported, so its address is free"
        );
    }

    #[test]
    fn users_an_earlier_import_wrote_are_updated_and_gatehouses_own_stand_in_the_way() {
        let users = django(&[
            (1, "alice", "alice@example.com"),
            (2, "bob", "b@example.com"),
        ]);
        let gatehouse = [
            // Alice, imported before under another name: she is updated.
            existing(1, "alice-old", "alice@example.com", true),
            // Gatehouse's own user has bob's address.
            existing(9, "robert", "B@example.com", false),
        ];
        let plan = plan_users(&users, &gatehouse, ConflictPolicy::Skip);
        assert_eq!(
            reasons(&plan),
            [(2, ConflictReason::EmailTakenInGatehouse { id: 9 })]
        );
        assert!(plan.email_of(1).is_some());
    }

    fn alice(password: &str) -> UserRecord {
        UserRecord {
            id: 1,
            username: "alice".into(),
            email: "alice@example.com".into(),
            password: password.into(),
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: Utc.timestamp_opt(1_600_000_000, 0).unwrap(),
            last_login: Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap()),
        }
    }

    #[test]
    fn a_rerun_keeps_an_upgraded_hash_and_a_later_login_but_takes_djangos_changes() {
        let email = EmailAddress::parse("alice@example.com").unwrap();
        let in_django = alice("pbkdf2_sha256$1$a$b");
        let stored = StoredUser {
            record: UserRecord {
                password: "bcrypt_sha256$$2b$12$upgraded".into(),
                last_login: Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap()),
                ..in_django.clone()
            },
            imported_digest: b"digest of the pbkdf2 hash".to_vec(),
        };
        assert_eq!(
            merge(
                &in_django,
                &email,
                b"digest of the pbkdf2 hash",
                Some(&stored)
            ),
            UserWrite::Unchanged
        );

        let renamed = UserRecord {
            first_name: "Alicia".into(),
            ..in_django.clone()
        };
        let UserWrite::Update {
            record,
            password_changed,
        } = merge(
            &renamed,
            &email,
            b"digest of the pbkdf2 hash",
            Some(&stored),
        )
        else {
            panic!("an update")
        };
        assert!(!password_changed);
        assert_eq!(record.first_name, "Alicia");
        assert_eq!(
            record.password, stored.record.password,
            "the upgrade is kept"
        );
        assert_eq!(
            record.last_login, stored.record.last_login,
            "the later login"
        );

        let new_password = alice("pbkdf2_sha256$1$c$d");
        assert_eq!(
            merge(&new_password, &email, b"another digest", Some(&stored)),
            UserWrite::Update {
                record: UserRecord {
                    last_login: stored.record.last_login,
                    ..new_password.clone()
                },
                password_changed: true,
            }
        );
        assert_eq!(
            merge(&in_django, &email, b"d", None),
            UserWrite::Create(in_django.clone())
        );
    }
}
