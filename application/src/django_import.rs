//! Switching from Django: which users and groups of a Django database `gatehouse
//! import-django` writes, and what it writes over those an earlier run imported (README,
//! "Switching from Django"). The reading and writing are `infrastructure::django_import`'s.
//!
//! An import remembers what it wrote. A later run takes from Django only what changed
//! there since, so what Gatehouse changed meanwhile (a deactivation, a demotion, an
//! upgraded hash, a deletion) stands.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::EmailAddress;
use serde::{Deserialize, Serialize};

/// An account as both sides hold it: Django's `auth_user` row, or Gatehouse's `users`
/// row of the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// An earlier import wrote him and he was deleted in Gatehouse since: he stays
    /// deleted, whatever the policy.
    DeletedInGatehouse,
}

impl ConflictReason {
    /// A placeholder address can stand in for the email, not for an id or a name.
    fn is_about_the_email(&self) -> bool {
        matches!(
            self,
            Self::EmptyEmail
                | Self::InvalidEmail
                | Self::SameEmailAs { .. }
                | Self::EmailTakenInGatehouse { .. }
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
            Self::DeletedInGatehouse => f.write_str("deleted in Gatehouse since an earlier import"),
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
/// and email; one an earlier import wrote (`imported`) is the Django user of his id,
/// and his name and address may pass to another Django user (he is given his own new
/// ones in the same run). An imported user since deleted in Gatehouse stays deleted.
pub fn plan_users(
    django: &[(i64, String, String)],
    gatehouse: &[ExistingUser],
    imported: &HashSet<i64>,
    policy: ConflictPolicy,
) -> UserPlan {
    let importing: HashSet<i64> = django.iter().map(|(id, ..)| *id).collect();
    let present: HashSet<i64> = gatehouse.iter().map(|u| u.id).collect();
    let mut names = HashMap::new();
    let mut emails = HashMap::new();
    let mut ids = HashMap::new();
    for user in gatehouse {
        let from_django = imported.contains(&user.id);
        if from_django && importing.contains(&user.id) {
            continue;
        }
        if !from_django {
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
        if imported.contains(id) && !present.contains(id) {
            plan.conflicts.push(Conflict {
                id: *id,
                username: username.clone(),
                email: raw_email.clone(),
                reason: ConflictReason::DeletedInGatehouse,
                resolution: Resolution::NotImported,
            });
            continue;
        }
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
            ConflictPolicy::Placeholder
                if reason.is_about_the_email() && !emails.contains_key(&placeholder_email(*id)) =>
            {
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

/// A Gatehouse user an earlier import wrote: as he is now, and as that import wrote
/// him (`base`: Django's row then, its hash as a digest, [`base_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub record: UserRecord,
    pub base: UserRecord,
}

/// What an import writes for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserWrite {
    Create(UserRecord),
    /// With `password_changed`, the password was changed in Django since the last
    /// import: taken as a password change (his sessions, keys and links end).
    Update {
        record: UserRecord,
        password_changed: bool,
    },
    Unchanged,
}

/// What an import remembers of Django's row: the row, with the address it was
/// imported with, and `digest` (of its hash) for its hash.
pub fn base_of(django: &UserRecord, email: &EmailAddress, digest: &str) -> UserRecord {
    UserRecord {
        email: email.as_str().to_owned(),
        password: digest.to_owned(),
        ..django.clone()
    }
}

/// A three-way merge: each field takes Django's value if it changed in Django since
/// the last import (`stored.base`), and keeps Gatehouse's otherwise; `last_login` is
/// the later of the two. So a deactivation, a demotion or a hash upgraded at a login in
/// Gatehouse stands, and a change made in Django comes over. A hash Django rewrote is a
/// password change, even when Django only rehashed the same password at a login.
pub fn merge(
    django: &UserRecord,
    email: &EmailAddress,
    digest: &str,
    stored: Option<&StoredUser>,
) -> UserWrite {
    let incoming = UserRecord {
        email: email.as_str().to_owned(),
        ..django.clone()
    };
    let Some(StoredUser { record: now, base }) = stored else {
        return UserWrite::Create(incoming);
    };
    fn pick<T: PartialEq + Clone>(django: &T, base: &T, gatehouse: &T) -> T {
        if django == base { gatehouse } else { django }.clone()
    }
    let password_changed = digest != base.password;
    let record = UserRecord {
        id: now.id,
        username: pick(&incoming.username, &base.username, &now.username),
        email: pick(&incoming.email, &base.email, &now.email),
        password: if password_changed {
            incoming.password.clone()
        } else {
            now.password.clone()
        },
        first_name: pick(&incoming.first_name, &base.first_name, &now.first_name),
        last_name: pick(&incoming.last_name, &base.last_name, &now.last_name),
        is_active: pick(&incoming.is_active, &base.is_active, &now.is_active),
        is_staff: pick(&incoming.is_staff, &base.is_staff, &now.is_staff),
        is_superuser: pick(
            &incoming.is_superuser,
            &base.is_superuser,
            &now.is_superuser,
        ),
        date_joined: pick(&incoming.date_joined, &base.date_joined, &now.date_joined),
        last_login: incoming.last_login.max(now.last_login),
    };
    if record == *now {
        return UserWrite::Unchanged;
    }
    UserWrite::Update {
        record,
        password_changed,
    }
}

/// A set of links (a user's groups or grants, a group's grants, by Gatehouse id) after
/// a run, merged three ways as [`merge`] merges fields: what Django added or removed
/// since the last import (`base`; `None` before the first) is added or removed, and
/// what Gatehouse added or removed meanwhile stays so.
pub fn merge_links(
    django: &BTreeSet<i64>,
    base: Option<&BTreeSet<i64>>,
    gatehouse: &BTreeSet<i64>,
) -> BTreeSet<i64> {
    let Some(base) = base else {
        return django.clone();
    };
    let added: BTreeSet<i64> = django.difference(base).copied().collect();
    let removed: BTreeSet<i64> = base.difference(django).copied().collect();
    gatehouse
        .union(&added)
        .filter(|link| !removed.contains(link))
        .copied()
        .collect()
}

/// What an import does with one Django group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// Imported before as Gatehouse group `id`, and named as in Django.
    Keep { id: i64 },
    /// Imported before as Gatehouse group `id`, renamed in Django since.
    Rename { id: i64 },
    /// New: with Django's id where it is free.
    Create { id: Option<i64> },
}

/// Why a Django group is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupConflictReason {
    /// Gatehouse group `id`, which no import wrote for this one, has the name.
    NameTakenInGatehouse { id: i64 },
    /// An earlier import wrote it and it was deleted in Gatehouse since.
    DeletedInGatehouse,
}

impl fmt::Display for GroupConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NameTakenInGatehouse { id } => {
                write!(f, "Gatehouse group {id}, not from this one, has this name")
            }
            Self::DeletedInGatehouse => f.write_str("deleted in Gatehouse since an earlier import"),
        }
    }
}

/// One Django group in conflict, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConflict {
    pub id: i64,
    pub name: String,
    pub reason: GroupConflictReason,
    pub resolution: Resolution,
}

/// What an import does with Django's groups.
#[derive(Debug, Clone, Default)]
pub struct GroupPlan {
    /// Django's id and name, and the action.
    pub actions: Vec<(i64, String, GroupAction)>,
    pub conflicts: Vec<GroupConflict>,
}

impl GroupPlan {
    /// Under `Abort`, true when nothing may be written.
    pub fn aborted(&self) -> bool {
        self.conflicts
            .iter()
            .any(|c| c.resolution == Resolution::Aborted)
    }
}

/// Decides, for every Django group (`id`, `name`), what an import does with it, given
/// Gatehouse's groups (`id`, `name`) and those earlier imports wrote (Django's id to
/// Gatehouse's). A Gatehouse group of the same name that no import wrote for this one
/// is never merged with it (its members would gain Django's grants): the Django group
/// is in conflict, and `policy` aborts or leaves it out. One deleted in Gatehouse since
/// it was imported stays deleted.
pub fn plan_groups(
    django: &[(i64, String)],
    gatehouse: &[(i64, String)],
    imported: &HashMap<i64, i64>,
    policy: ConflictPolicy,
) -> GroupPlan {
    let by_id: HashMap<i64, &str> = gatehouse.iter().map(|(id, n)| (*id, n.as_str())).collect();
    let by_name: HashMap<&str, i64> = gatehouse.iter().map(|(id, n)| (n.as_str(), *id)).collect();
    let mut plan = GroupPlan::default();
    for (django_id, name) in django {
        let taken = by_name.get(name.as_str()).copied();
        let outcome = match imported.get(django_id) {
            Some(&id) => match by_id.get(&id) {
                None => Err(GroupConflictReason::DeletedInGatehouse),
                Some(&current) if current == name => Ok(GroupAction::Keep { id }),
                Some(_) => match taken {
                    Some(other) => Err(GroupConflictReason::NameTakenInGatehouse { id: other }),
                    None => Ok(GroupAction::Rename { id }),
                },
            },
            None => match taken {
                Some(other) => Err(GroupConflictReason::NameTakenInGatehouse { id: other }),
                None => Ok(GroupAction::Create {
                    id: (!by_id.contains_key(django_id)).then_some(*django_id),
                }),
            },
        };
        match outcome {
            Ok(action) => plan.actions.push((*django_id, name.clone(), action)),
            Err(reason) => {
                let resolution = match (&reason, policy) {
                    (GroupConflictReason::NameTakenInGatehouse { .. }, ConflictPolicy::Abort) => {
                        Resolution::Aborted
                    }
                    _ => Resolution::NotImported,
                };
                plan.conflicts.push(GroupConflict {
                    id: *django_id,
                    name: name.clone(),
                    reason,
                    resolution,
                });
            }
        }
    }
    plan
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

    fn existing(id: i64, username: &str, email: &str) -> ExistingUser {
        ExistingUser {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
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
            let plan = plan_users(&users, &[], &HashSet::new(), policy);
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
    fn a_placeholder_stands_in_for_an_email_but_not_for_a_taken_id_name_or_placeholder() {
        let users = django(&[
            (1, "admin", "admin@example.com"),
            (2, "taken-name", "a@example.com"),
            (3, "twin", "A@example.com"),
            (4, "blank", ""),
            (5, "blank-too", ""),
        ]);
        let gatehouse = [
            existing(1, "root", "root@example.com"),
            existing(50, "taken-name", "other@example.com"),
            existing(51, "squatter", "Django-User-5@example.invalid"),
        ];
        let plan = plan_users(
            &users,
            &gatehouse,
            &HashSet::new(),
            ConflictPolicy::Placeholder,
        );
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
                (5, ConflictReason::EmptyEmail),
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
            plan.conflicts[3].resolution,
            Resolution::NotImported,
            "his placeholder is taken"
        );
        assert_eq!(
            plan.email_of(3).unwrap().as_str(),
            "A@example.com",
            "user 2 was not imported, so its address is free"
        );
    }

    #[test]
    fn imported_users_pass_their_names_on_gatehouses_own_stand_in_the_way_and_the_deleted_stay_deleted()
     {
        let users = django(&[
            (1, "alice", "bob@example.com"),
            (2, "bob", "alice@example.com"),
            (3, "carol", "c@example.com"),
            (4, "dave", "d@example.com"),
        ]);
        let gatehouse = [
            // Alice and Bob, imported before, swapped their addresses in Django.
            existing(1, "alice", "alice@example.com"),
            existing(2, "bob", "bob@example.com"),
            // Gatehouse's own user has Carol's address.
            existing(9, "robert", "C@example.com"),
            // Dave was imported, then deleted in Gatehouse.
        ];
        let imported: HashSet<i64> = [1, 2, 4].into();
        for policy in [ConflictPolicy::Abort, ConflictPolicy::Skip] {
            let plan = plan_users(&users, &gatehouse, &imported, policy);
            assert_eq!(
                reasons(&plan),
                [
                    (3, ConflictReason::EmailTakenInGatehouse { id: 9 }),
                    (4, ConflictReason::DeletedInGatehouse),
                ]
            );
            assert_eq!(
                plan.conflicts[1].resolution,
                Resolution::NotImported,
                "a deletion stands whatever the policy"
            );
            if policy == ConflictPolicy::Skip {
                assert_eq!(plan.email_of(1).unwrap().as_str(), "bob@example.com");
                assert_eq!(plan.email_of(2).unwrap().as_str(), "alice@example.com");
                assert_eq!(plan.email_of(4), None);
            }
        }
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
            is_staff: true,
            is_superuser: false,
            date_joined: Utc.timestamp_opt(1_600_000_000, 0).unwrap(),
            last_login: Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap()),
        }
    }

    #[test]
    fn a_rerun_takes_what_changed_in_django_and_keeps_what_changed_in_gatehouse() {
        let email = EmailAddress::parse("alice@example.com").unwrap();
        let in_django = alice("pbkdf2_sha256$1$a$b");
        let base = base_of(&in_django, &email, "digest-1");
        // Since the import, in Gatehouse: she signed in (her hash was upgraded) and an
        // admin took her staff status away.
        let stored = StoredUser {
            record: UserRecord {
                password: "bcrypt_sha256$$2b$12$upgraded".into(),
                last_login: Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap()),
                is_staff: false,
                ..in_django.clone()
            },
            base,
        };
        assert_eq!(
            merge(&in_django, &email, "digest-1", Some(&stored)),
            UserWrite::Unchanged,
            "nothing changed in Django: Gatehouse's changes stand"
        );

        // In Django: renamed and deactivated.
        let changed = UserRecord {
            first_name: "Alicia".into(),
            is_active: false,
            ..in_django.clone()
        };
        assert_eq!(
            merge(&changed, &email, "digest-1", Some(&stored)),
            UserWrite::Update {
                record: UserRecord {
                    first_name: "Alicia".into(),
                    is_active: false,
                    ..stored.record.clone()
                },
                password_changed: false,
            }
        );

        // In Django: a new password.
        let new_password = alice("pbkdf2_sha256$1$c$d");
        assert_eq!(
            merge(&new_password, &email, "digest-2", Some(&stored)),
            UserWrite::Update {
                record: UserRecord {
                    password: "pbkdf2_sha256$1$c$d".into(),
                    ..stored.record.clone()
                },
                password_changed: true,
            }
        );
        assert_eq!(
            merge(&in_django, &email, "digest-1", None),
            UserWrite::Create(in_django.clone())
        );
    }

    #[test]
    fn groups_are_created_kept_or_renamed_and_never_merged_with_gatehouses_own() {
        let django = [
            (1, "editors".to_owned()),
            (2, "writers".to_owned()),
            (3, "readers".to_owned()),
            (4, "staff".to_owned()),
            (5, "gone".to_owned()),
            (6, "new".to_owned()),
        ];
        let gatehouse = [
            (1, "editors".to_owned()),
            (2, "authors".to_owned()),
            (7, "readers".to_owned()),
            (6, "mine".to_owned()),
        ];
        // Django's 1 and 2 were imported as 1 and 2, and 5 as 8 (deleted since).
        let imported: HashMap<i64, i64> = [(1, 1), (2, 2), (5, 8)].into();
        let plan = plan_groups(&django, &gatehouse, &imported, ConflictPolicy::Skip);
        assert_eq!(
            plan.actions,
            [
                (1, "editors".to_owned(), GroupAction::Keep { id: 1 }),
                (2, "writers".to_owned(), GroupAction::Rename { id: 2 }),
                (4, "staff".to_owned(), GroupAction::Create { id: Some(4) }),
                (6, "new".to_owned(), GroupAction::Create { id: None }),
            ]
        );
        let conflicts: Vec<(i64, GroupConflictReason)> = plan
            .conflicts
            .iter()
            .map(|c| (c.id, c.reason.clone()))
            .collect();
        assert_eq!(
            conflicts,
            [
                (3, GroupConflictReason::NameTakenInGatehouse { id: 7 }),
                (5, GroupConflictReason::DeletedInGatehouse),
            ]
        );
        assert!(!plan.aborted());
        assert!(plan_groups(&django, &gatehouse, &imported, ConflictPolicy::Abort).aborted());
    }

    #[test]
    fn links_take_djangos_additions_and_removals_and_keep_gatehouses() {
        let set = |links: &[i64]| links.iter().copied().collect::<BTreeSet<i64>>();
        // Before the first import: Django's.
        assert_eq!(merge_links(&set(&[1, 2]), None, &set(&[9])), set(&[1, 2]));
        // Django added 3 and removed 1; Gatehouse added 7 and removed 2.
        assert_eq!(
            merge_links(&set(&[2, 3]), Some(&set(&[1, 2])), &set(&[1, 7])),
            set(&[3, 7])
        );
        // Nothing changed in Django: Gatehouse's stand.
        assert_eq!(
            merge_links(&set(&[1, 2]), Some(&set(&[1, 2])), &set(&[5])),
            set(&[5])
        );
    }
}
