//! Which email addresses are taken: exactly those Django's `EmailValidator` accepts and
//! the mailer can send to, at every route that takes one.

use std::time::Duration;

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// Refused by Django's `EmailValidator` (and by the mailer).
const REFUSED: [&str; 9] = [
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@b..com",
    "a@example",
    "a@example.c",
    "a@-example.com",
    "a@example_test.com",
    "jörg@example.com",
];

fn assert_invalid_email(reply: &Reply, address: &str) {
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "{address}: {}",
        reply.text
    );
    assert_eq!(
        reply.body,
        json!({ "email": ["Enter a valid email address."] }),
        "{address}"
    );
}

#[tokio::test]
async fn addresses_django_refuses_are_refused_wherever_an_email_is_taken() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let zed = app.register("zed@example.com").await["id"]
        .as_i64()
        .unwrap();

    for (n, address) in REFUSED.into_iter().enumerate() {
        let registered = app
            .post(
                "/auth/register/",
                json!({ "email": address, "username": format!("user{n}"), "password": PASSWORD }),
            )
            .await;
        assert_invalid_email(&registered, address);
        let v1 = app
            .post(
                "/api/v1/auth/register_credentials",
                json!({ "email": address, "username": format!("v1user{n}"), "password": PASSWORD }),
            )
            .await;
        assert_invalid_email(&v1, address);
        let created = call(
            &app,
            Method::POST,
            "/auth/users/",
            &root,
            Some(json!({ "username": format!("admin{n}"), "email": address })),
        )
        .await;
        assert_invalid_email(&created, address);
        let updated = call(
            &app,
            Method::PATCH,
            &format!("/auth/users/{zed}/"),
            &root,
            Some(json!({ "email": address })),
        )
        .await;
        assert_invalid_email(&updated, address);
        for path in ["/auth/reset-password/", "/auth/activate/resend/"] {
            let reply = app.post(path, json!({ "email": address })).await;
            assert_invalid_email(&reply, address);
        }
    }

    let users: i64 = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 2, "only root and zed");
    let queued: i64 = app
        .db
        .scalar("SELECT count(*) AS value FROM email_outbox")
        .await;
    assert_eq!(queued, 0, "nothing was queued for an unsendable address");
    assert!(mail.received().is_empty());
}

#[tokio::test]
async fn addresses_django_accepts_register_and_are_mailed() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    // (address as sent, as stored, as the mail server sees the recipient)
    let accepted = [
        (
            "user+tag@example.com",
            "user+tag@example.com",
            "user+tag@example.com",
        ),
        (
            "First.Last@Example.COM",
            "First.Last@example.com",
            "First.Last@example.com",
        ),
        (
            "o'brien@example.co.uk",
            "o'brien@example.co.uk",
            "o'brien@example.co.uk",
        ),
        (
            "x{y}|z~@example.org",
            "x{y}|z~@example.org",
            "x{y}|z~@example.org",
        ),
        ("a@b.co", "a@b.co", "a@b.co"),
        ("ops@localhost", "ops@localhost", "ops@localhost"),
        (
            "anna@bücher.example",
            "anna@bücher.example",
            "anna@xn--bcher-kva.example",
        ),
        ("post@[192.0.2.1]", "post@[192.0.2.1]", "post@[192.0.2.1]"),
        (
            "\"a..b\"@example.com",
            "\"a..b\"@example.com",
            "\"a..b\"@example.com",
        ),
    ];

    for (n, (sent, stored, _)) in accepted.iter().enumerate() {
        let reply = app
            .post(
                "/auth/register/",
                json!({ "email": sent, "username": format!("user{n}"), "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{sent}: {}", reply.text);
        assert_eq!(reply.body["email"], *stored);
        let reset = app
            .post("/auth/reset-password/", json!({ "email": stored }))
            .await;
        assert_eq!(reset.status, StatusCode::OK, "{stored}: {}", reset.text);
    }

    let delivered = mail.wait_for(accepted.len(), WAIT).await;
    let mut recipients: Vec<String> = delivered.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    let mut expected: Vec<String> = accepted
        .iter()
        .map(|(_, _, rcpt)| rcpt.to_string())
        .collect();
    expected.sort();
    assert_eq!(recipients, expected);
}
