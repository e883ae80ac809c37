//! Register: validation with Django's messages, the new account, its first session.

use crate::support::{FakeHasher, PASSWORD, default_gatehouse, gatehouse, login_command};
use application::use_cases::login::LoginError;
use application::use_cases::register::{RegisterCommand, RegisterError, Registered};
use application::{AccountSettings, ClientInfo, RegistrationSettings, Settings, ValidationErrors};
use chrono::Duration;
use domain::ports::Clock;
use domain::{EmailKind, OneTimeTokenRecord, Password, TokenPurpose, TokenType};

const DUPLICATE_EMAIL: &str = "user with this email already exists.";
const DUPLICATE_USERNAME: &str = "A user with that username already exists.";
const TOO_LONG_150: &str = "Ensure this field has no more than 150 characters.";

fn command(email: &str, username: Option<&str>, password: &str) -> RegisterCommand {
    RegisterCommand {
        email: email.to_owned(),
        username: username.map(str::to_owned),
        password: Password::new(password),
        password2: None,
        first_name: String::new(),
        last_name: String::new(),
        client: ClientInfo::default(),
    }
}

fn with_registration(registration: RegistrationSettings) -> Settings {
    Settings {
        registration,
        ..Settings::default()
    }
}

#[track_caller]
fn invalid(result: Result<Registered, RegisterError>) -> ValidationErrors {
    match result {
        Err(RegisterError::Invalid(errors)) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

/// Every field with errors, by name, in the order they were reported.
fn fields(errors: &ValidationErrors) -> Vec<&str> {
    errors.fields().map(|(field, _)| field).collect()
}

#[tokio::test]
async fn registering_creates_an_active_user_and_opens_his_first_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let now = fakes.clock.now();

    let registered = gatehouse
        .register(RegisterCommand {
            first_name: "Erin".to_owned(),
            last_name: "Example".to_owned(),
            ..command("erin@example.com", Some("erin"), PASSWORD)
        })
        .await
        .expect("registered");

    let user = &registered.profile.user;
    assert_eq!(user.username.as_str(), "erin");
    assert_eq!(user.email.as_str(), "erin@example.com");
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Erin", "Example")
    );
    assert!(user.is_active && !user.is_staff && !user.is_superuser);
    assert_eq!(user.date_joined, now);
    assert_eq!(user.password_changed_at, now);
    assert_eq!(user.last_login, None);
    assert_eq!(registered.profile.groups, Vec::<String>::new());

    let stored = fakes.store.user(user.id).expect("stored");
    assert_eq!(&stored, user);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(PASSWORD));

    let tokens = registered.tokens.expect("a first session");
    let access = fakes.claims(&tokens.access);
    assert_eq!(access.token_type, TokenType::Access);
    assert_eq!(access.user_id, user.id.to_string());
    assert_eq!(access.user.expect("user claims").username, "erin");
    assert_eq!(fakes.claims(&tokens.refresh).sid, access.sid);
    let sessions = fakes.store.tokens_of(user.id);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].jti, fakes.jti(&tokens.refresh));
    let principal = gatehouse
        .authenticate(&tokens.access)
        .await
        .expect("usable");
    assert_eq!(principal.profile.user.id, user.id);
}

#[tokio::test]
async fn the_username_defaults_to_the_normalised_email_address() {
    let (gatehouse, fakes) = default_gatehouse();

    let registered = gatehouse
        .register(command(" Carol@Example.COM ", None, PASSWORD))
        .await
        .expect("registered");

    let user = fakes.store.user(registered.profile.user.id).unwrap();
    assert_eq!(user.email.as_str(), "Carol@example.com");
    assert_eq!(user.username.as_str(), "Carol@example.com");
}

#[tokio::test]
async fn an_email_already_used_in_another_case_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("dave", "dave@example.com");

    let errors = invalid(
        gatehouse
            .register(command("DAVE@example.com", Some("dave2"), PASSWORD))
            .await,
    );

    assert_eq!(fields(&errors), ["email"]);
    assert_eq!(errors.messages("email"), [DUPLICATE_EMAIL]);
    assert_eq!(fakes.store.user_count(), 1);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn an_email_already_used_is_reported_once_when_the_username_defaults_to_it() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("dave@example.com", "dave@example.com");

    let errors = invalid(
        gatehouse
            .register(command("dave@example.com", None, PASSWORD))
            .await,
    );

    assert_eq!(fields(&errors), ["email"]);
    assert_eq!(errors.messages("email"), [DUPLICATE_EMAIL]);
}

#[tokio::test]
async fn a_username_already_taken_is_refused_with_djangos_message() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("erin", "erin@example.com");

    let errors = invalid(
        gatehouse
            .register(command("other@example.com", Some("erin"), PASSWORD))
            .await,
    );

    assert_eq!(fields(&errors), ["username"]);
    assert_eq!(errors.messages("username"), [DUPLICATE_USERNAME]);
    assert_eq!(fakes.store.user_count(), 1);
}

#[tokio::test]
async fn usernames_differing_only_in_case_are_distinct() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("erin", "erin@example.com");

    let registered = gatehouse
        .register(command("other@example.com", Some("Erin"), PASSWORD))
        .await
        .expect("registered");

    assert_eq!(registered.profile.user.username.as_str(), "Erin");
    assert_eq!(fakes.store.user_count(), 2);
}

#[tokio::test]
async fn a_taken_email_and_a_taken_username_are_both_reported() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("erin", "erin@example.com");

    let errors = invalid(
        gatehouse
            .register(command("erin@example.com", Some("erin"), PASSWORD))
            .await,
    );

    assert_eq!(errors.messages("email"), [DUPLICATE_EMAIL]);
    assert_eq!(errors.messages("username"), [DUPLICATE_USERNAME]);
}

#[tokio::test]
async fn an_invalid_email_is_refused_with_djangos_message() {
    let (gatehouse, fakes) = default_gatehouse();

    for email in [
        "not-an-email",
        "a@",
        "a b@example.com",
        "a..b@example.com",
        "a@b..com",
    ] {
        let errors = invalid(
            gatehouse
                .register(command(email, Some("zed"), PASSWORD))
                .await,
        );
        assert_eq!(fields(&errors), ["email"], "{email:?}");
        assert_eq!(errors.messages("email"), ["Enter a valid email address."]);
    }
    let errors = invalid(
        gatehouse
            .register(command("not-an-email", None, PASSWORD))
            .await,
    );
    assert_eq!(fields(&errors), ["email"]);
    assert_eq!(errors.messages("email"), ["Enter a valid email address."]);
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn an_email_over_254_characters_is_too_long() {
    let (gatehouse, _fakes) = default_gatehouse();
    // Well formed (labels of at most 63, a local part of at most 64), 308 characters.
    let label = "b".repeat(60);
    let email = format!("{}@{label}.{label}.{label}.{label}.com", "a".repeat(60));

    let errors = invalid(
        gatehouse
            .register(command(&email, Some("zed"), PASSWORD))
            .await,
    );

    assert_eq!(
        errors.messages("email"),
        ["Ensure this field has no more than 254 characters."]
    );
}

#[tokio::test]
async fn an_overlong_malformed_email_gets_both_drf_messages() {
    let (gatehouse, _fakes) = default_gatehouse();
    let errors = invalid(
        gatehouse
            .register(command(&"x".repeat(300), Some("zed"), PASSWORD))
            .await,
    );
    assert_eq!(
        errors.messages("email"),
        [
            "Ensure this field has no more than 254 characters.",
            "Enter a valid email address."
        ]
    );
}

#[tokio::test]
async fn an_invalid_username_is_refused_with_djangos_message() {
    let (gatehouse, _fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command("erin@example.com", Some("erin smith"), PASSWORD))
            .await,
    );

    assert_eq!(fields(&errors), ["username"]);
    assert_eq!(
        errors.messages("username"),
        [
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
        ]
    );
}

#[tokio::test]
async fn a_short_common_numeric_password_gets_every_django_message_in_order() {
    let (gatehouse, fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command("erin@example.com", Some("erin"), "1234567"))
            .await,
    );

    assert_eq!(fields(&errors), ["password"]);
    assert_eq!(
        errors.messages("password"),
        [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ]
    );
    assert_eq!(fakes.store.user_count(), 0);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn a_common_password_is_too_common() {
    let (gatehouse, _fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command("erin@example.com", Some("erin"), "password"))
            .await,
    );

    assert_eq!(
        errors.messages("password"),
        ["This password is too common."]
    );
}

#[tokio::test]
async fn a_password_like_the_email_address_is_too_similar_to_it() {
    let (gatehouse, _fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command(
                "marguerite.dupont@example.com",
                Some("zed"),
                "marguerite.dupont",
            ))
            .await,
    );

    assert_eq!(
        errors.messages("password"),
        ["The password is too similar to the email address."]
    );
}

#[tokio::test]
async fn a_password_like_the_username_is_too_similar_to_it() {
    let (gatehouse, _fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command(
                "zed@example.com",
                Some("bartholomew"),
                "Bartholomew7",
            ))
            .await,
    );

    assert_eq!(
        errors.messages("password"),
        ["The password is too similar to the username."]
    );
}

#[tokio::test]
async fn the_configured_minimum_length_is_enforced() {
    let (gatehouse, _fakes) = gatehouse(Settings {
        passwords: domain::password::PasswordPolicy { min_length: 12 },
        ..Settings::default()
    });

    let errors = invalid(
        gatehouse
            .register(command("erin@example.com", Some("erin"), "Zq8!vW3#pL"))
            .await,
    );

    assert_eq!(
        errors.messages("password"),
        ["This password is too short. It must contain at least 12 characters."]
    );
}

#[tokio::test]
async fn field_errors_are_reported_before_the_password_rules_run() {
    let (gatehouse, _fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command("nope", Some("erin"), "123"))
            .await,
    );

    assert_eq!(fields(&errors), ["email"]);
}

#[tokio::test]
async fn a_mismatched_password_confirmation_is_a_non_field_error() {
    let (gatehouse, fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(RegisterCommand {
                password2: Some(Password::new("correct horse battery stapler")),
                ..command("erin@example.com", Some("erin"), PASSWORD)
            })
            .await,
    );

    assert_eq!(fields(&errors), [ValidationErrors::NON_FIELD]);
    assert_eq!(
        errors.messages("non_field_errors"),
        ["The two password fields didn't match."]
    );
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn a_matching_password_confirmation_is_accepted() {
    let (gatehouse, _fakes) = default_gatehouse();

    let registered = gatehouse
        .register(RegisterCommand {
            password2: Some(Password::new(PASSWORD)),
            ..command("erin@example.com", Some("erin"), PASSWORD)
        })
        .await
        .expect("registered");

    assert_eq!(registered.profile.user.username.as_str(), "erin");
}

#[tokio::test]
async fn with_password_retype_on_a_missing_confirmation_is_required() {
    let (gatehouse, fakes) = gatehouse(with_registration(RegistrationSettings {
        password_retype: true,
        ..RegistrationSettings::default()
    }));

    let errors = invalid(
        gatehouse
            .register(command("erin@example.com", Some("erin"), PASSWORD))
            .await,
    );

    assert_eq!(fields(&errors), ["password2"]);
    assert_eq!(errors.messages("password2"), ["This field is required."]);
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn with_registration_disabled_nobody_can_register() {
    let (gatehouse, fakes) = gatehouse(with_registration(RegistrationSettings {
        enabled: false,
        ..RegistrationSettings::default()
    }));

    let error = gatehouse
        .register(command("erin@example.com", Some("erin"), PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(error, RegisterError::Disabled), "{error:?}");
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn with_activation_required_the_user_is_inactive_and_gets_no_tokens() {
    let (gatehouse, fakes) = gatehouse(with_registration(RegistrationSettings {
        require_activation: true,
        ..RegistrationSettings::default()
    }));

    let registered = gatehouse
        .register(command("erin@example.com", Some("erin"), PASSWORD))
        .await
        .expect("registered");

    assert!(registered.tokens.is_none());
    let user = fakes.store.user(registered.profile.user.id).unwrap();
    assert!(!user.is_active);
    assert!(fakes.store.tokens_of(user.id).is_empty());
    let login = gatehouse
        .login(login_command("erin", PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(login, LoginError::InvalidCredentials), "{login:?}");
}

#[tokio::test]
async fn names_over_150_characters_are_too_long() {
    let (gatehouse, fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(RegisterCommand {
                first_name: "é".repeat(151),
                last_name: "x".repeat(151),
                ..command("erin@example.com", Some("erin"), PASSWORD)
            })
            .await,
    );

    assert_eq!(fields(&errors), ["first_name", "last_name"]);
    assert_eq!(errors.messages("first_name"), [TOO_LONG_150]);
    assert_eq!(errors.messages("last_name"), [TOO_LONG_150]);
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn names_of_exactly_150_characters_are_accepted() {
    let (gatehouse, _fakes) = default_gatehouse();

    let registered = gatehouse
        .register(RegisterCommand {
            first_name: "é".repeat(150),
            ..command("erin@example.com", Some("erin"), PASSWORD)
        })
        .await
        .expect("registered");

    assert_eq!(registered.profile.user.first_name.chars().count(), 150);
}

#[tokio::test]
async fn a_username_over_150_characters_is_too_long() {
    let (gatehouse, _fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .register(command(
                "erin@example.com",
                Some(&"e".repeat(151)),
                PASSWORD,
            ))
            .await,
    );

    assert_eq!(errors.messages("username"), [TOO_LONG_150]);
}

// --- activation --------------------------------------------------------------

fn requiring_activation() -> Settings {
    with_registration(RegistrationSettings {
        require_activation: true,
        ..RegistrationSettings::default()
    })
}

#[tokio::test]
async fn with_activation_required_one_activation_link_is_queued_and_it_activates_the_account() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let now = fakes.clock.now();

    let registered = gatehouse
        .register(command("erin@example.com", Some("erin"), PASSWORD))
        .await
        .expect("registered");

    assert!(registered.tokens.is_none());
    let id = registered.profile.user.id;
    assert!(!registered.profile.user.is_active);
    assert!(!fakes.user(id).is_active);
    assert_eq!(
        fakes.store.sent_to(id),
        [EmailKind::Activation {
            token: "tok-1".to_owned()
        }]
    );
    assert_eq!(fakes.store.outbox().len(), 1);
    let token = fakes.store.last_link_token(id).expect("an activation link");
    // Stored under its digest only, for one purpose, expiring after three days.
    assert_eq!(
        fakes.store.one_time_tokens_of(id),
        [OneTimeTokenRecord {
            id: fakes.one_time_token(&token).id,
            user_id: id,
            purpose: TokenPurpose::Activation,
            created_at: now,
            expires_at: now + Duration::days(3),
            used_at: None,
        }]
    );

    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");

    assert!(fakes.user(id).is_active);
    assert_eq!(
        fakes.store.sent_to(id),
        [
            EmailKind::Activation { token },
            EmailKind::ActivationConfirmed
        ]
    );
    gatehouse
        .login(login_command("erin", PASSWORD))
        .await
        .expect("an activated user can log in");
}

#[tokio::test]
async fn the_activation_link_lives_as_long_as_configured() {
    let (gatehouse, fakes) = gatehouse(Settings {
        accounts: AccountSettings {
            activation_token_lifetime: Duration::hours(6),
            ..AccountSettings::default()
        },
        ..requiring_activation()
    });
    let now = fakes.clock.now();

    let registered = gatehouse
        .register(command("erin@example.com", Some("erin"), PASSWORD))
        .await
        .expect("registered");

    let tokens = fakes.store.one_time_tokens_of(registered.profile.user.id);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].expires_at, now + Duration::hours(6));
}

#[tokio::test]
async fn without_activation_required_no_token_is_made_and_nothing_is_mailed() {
    let (gatehouse, fakes) = default_gatehouse();

    let registered = gatehouse
        .register(command("erin@example.com", Some("erin"), PASSWORD))
        .await
        .expect("registered");

    assert!(registered.profile.user.is_active);
    assert_eq!(fakes.one_time_tokens.generated(), 0);
    assert!(
        fakes
            .store
            .one_time_tokens_of(registered.profile.user.id)
            .is_empty()
    );
    assert_eq!(fakes.store.outbox(), []);
}

#[tokio::test]
async fn a_refused_registration_queues_no_activation_link() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let existing = fakes.add_user("erin", "erin@example.com");

    let errors = invalid(
        gatehouse
            .register(command("ERIN@example.com", Some("erin2"), PASSWORD))
            .await,
    );
    assert_eq!(errors.messages("email"), [DUPLICATE_EMAIL]);
    let errors = invalid(
        gatehouse
            .register(command("other@example.com", Some("other"), "1234567"))
            .await,
    );
    assert_eq!(fields(&errors), ["password"]);

    assert_eq!(fakes.store.user_count(), 1);
    assert!(fakes.store.one_time_tokens_of(existing.id).is_empty());
    assert_eq!(fakes.store.outbox(), []);
}
