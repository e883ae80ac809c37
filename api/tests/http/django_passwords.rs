//! Passwords a Django database holds, in every format Django's hashers wrote (hashed by
//! real Django: `scripts/django/password_hashes.py`): each logs in over HTTP, is
//! upgraded to the current format by that login, and keeps working.

use crate::common::*;
use infrastructure::testing::{DjangoHash, django_password_hashes};
use reqwest::StatusCode;
use serde_json::json;

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/auth/token/",
        json!({ "email": email, "password": password }),
    )
    .await
}

#[tokio::test]
async fn every_django_password_format_logs_in_and_is_upgraded_by_that_login() {
    let app = spawn_app().await;
    for DjangoHash {
        hasher,
        password,
        encoded,
    } in django_password_hashes()
    {
        let email = format!("{}@example.com", hasher.replace('_', "-"));
        let id = app.register(&email).await["id"].as_i64().unwrap();
        app.db
            .execute(&format!(
                "UPDATE users SET password = '{encoded}' WHERE id = {id}"
            ))
            .await;
        let stored = format!("SELECT password AS value FROM users WHERE id = {id}");

        if hasher == "unusable" {
            for attempt in ["", PASSWORD, "!"] {
                let refused = login(&app, &email, attempt).await;
                assert_ne!(refused.status, StatusCode::OK, "{attempt:?}");
            }
            assert_eq!(app.db.text(&stored).await.as_deref(), Some(&*encoded));
            continue;
        }
        let wrong = login(&app, &email, &format!("x{password}")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{hasher}");
        assert_eq!(
            app.db.text(&stored).await.as_deref(),
            Some(&*encoded),
            "{hasher}: a wrong password upgrades nothing"
        );

        let signed_in = login(&app, &email, &password).await;
        assert_eq!(
            signed_in.status,
            StatusCode::OK,
            "{hasher}: {}",
            signed_in.text
        );
        let upgraded = app.db.text(&stored).await.expect("a hash");
        assert!(
            upgraded.starts_with("bcrypt_sha256$$2b$04$"),
            "{hasher}: {upgraded}"
        );
        let again = login(&app, &email, &password).await;
        assert_eq!(again.status, StatusCode::OK, "{hasher}: {}", again.text);
        assert_eq!(app.db.text(&stored).await.as_deref(), Some(&*upgraded));
    }
}
