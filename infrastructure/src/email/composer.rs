//! The four emails, text and HTML, with links built from `frontend_url` and the
//! path templates (`{token}`, `{uid}`: the user id as unpadded base64url, as Django).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{EmailKind, EmailMessage};

/// What the emails are made from (`email.*` settings).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct EmailTemplates {
    pub site_name: String,
    pub frontend_url: String,
    pub reset_url_template: String,
    pub activation_url_template: String,
}

/// Renders `EmailKind`s for a recipient.
#[derive(Debug, Clone)]
pub struct EmailComposer {
    templates: EmailTemplates,
}

/// The recipient, as the emails name him.
pub struct Recipient<'a> {
    pub id: i64,
    pub username: &'a str,
    pub email: &'a str,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// Django's `urlsafe_base64_encode(force_bytes(user.pk))`.
pub fn uid(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

impl EmailComposer {
    pub fn new(templates: EmailTemplates) -> Self {
        Self { templates }
    }

    fn link(&self, template: &str, token: &str, user_id: i64) -> String {
        let path = template
            .replace("{token}", token)
            .replace("{uid}", &uid(user_id));
        format!(
            "{}/{}",
            self.templates.frontend_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    pub fn render(&self, kind: &EmailKind, to: &Recipient<'_>) -> EmailMessage {
        let site = &self.templates.site_name;
        let (subject, lines, link) = match kind {
            // Before activation nobody vouched for the name: a registrant could put a
            // stranger's address beside a username that reads like a message.
            EmailKind::Activation { token } => (
                format!("Activate your account on {site}"),
                vec![
                    "Hello,".to_owned(),
                    format!(
                        "Thank you for registering on {site}. Open this link to activate your account:"
                    ),
                ],
                Some(self.link(&self.templates.activation_url_template, token, to.id)),
            ),
            EmailKind::ActivationConfirmed => (
                format!("Your account on {site} is active"),
                vec![
                    format!("Hello {},", to.username),
                    format!("Your account on {site} is now active. You can sign in."),
                ],
                None,
            ),
            EmailKind::PasswordReset { token } => (
                format!("Password reset on {site}"),
                vec![
                    format!("Hello {},", to.username),
                    format!(
                        "Someone asked to reset your password on {site}. If it was you, open this link within the hour to choose a new one:"
                    ),
                ],
                Some(self.link(&self.templates.reset_url_template, token, to.id)),
            ),
            EmailKind::PasswordChanged => (
                format!("Your password on {site} was changed"),
                vec![
                    format!("Hello {},", to.username),
                    format!("The password of your account on {site} was just changed."),
                    "If you did not do this, reset your password at once and contact us."
                        .to_owned(),
                ],
                None,
            ),
        };
        let mut text = lines.join("\n\n");
        let mut html = lines
            .iter()
            .map(|l| format!("<p>{}</p>", escape(l)))
            .collect::<String>();
        if let Some(link) = link {
            text.push_str(&format!("\n\n{link}\n"));
            html.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", escape(&link)));
            if matches!(kind, EmailKind::PasswordReset { .. }) {
                let note =
                    "If you did not ask for this, ignore this email: your password stays as it is.";
                text.push_str(&format!("\n{note}\n"));
                html.push_str(&format!("<p>{}</p>", escape(note)));
            }
        }
        text.push_str(&format!("\n-- \n{site}\n"));
        let html = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{html}<p>— {}</p></body></html>",
            escape(&subject),
            escape(site)
        );
        EmailMessage {
            to: to.email.to_owned(),
            subject,
            text,
            html,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn composer() -> EmailComposer {
        EmailComposer::new(EmailTemplates {
            site_name: "Acme <Auth>".to_owned(),
            frontend_url: "https://app.example.com/".to_owned(),
            reset_url_template: "reset-password/{uid}/{token}".to_owned(),
            activation_url_template: "/activate/{token}".to_owned(),
        })
    }

    fn bob() -> Recipient<'static> {
        Recipient {
            id: 1,
            username: "bob",
            email: "bob@example.com",
        }
    }

    #[test]
    fn uid_is_djangos_base64_of_the_decimal_id() {
        assert_eq!(uid(1), "MQ");
        assert_eq!(uid(42), "NDI");
    }

    #[test]
    fn a_reset_link_fills_both_placeholders_under_the_frontend_url() {
        let message = composer().render(
            &EmailKind::PasswordReset {
                token: "tok-1".to_owned(),
            },
            &bob(),
        );
        assert_eq!(message.to, "bob@example.com");
        assert_eq!(message.subject, "Password reset on Acme <Auth>");
        assert!(
            message
                .text
                .contains("https://app.example.com/reset-password/MQ/tok-1\n"),
            "{}",
            message.text
        );
        assert!(
            message
                .html
                .contains("href=\"https://app.example.com/reset-password/MQ/tok-1\"")
        );
        assert!(
            message.html.contains("Acme &lt;Auth&gt;"),
            "site name is escaped in HTML"
        );
    }

    #[test]
    fn an_activation_link_has_no_double_slash() {
        let message = composer().render(
            &EmailKind::Activation {
                token: "t".to_owned(),
            },
            &bob(),
        );
        assert!(
            message
                .text
                .contains("https://app.example.com/activate/t\n"),
            "{}",
            message.text
        );
    }

    #[test]
    fn the_activation_email_does_not_repeat_the_unverified_username() {
        let stranger = Recipient {
            id: 7,
            username: "visit.evil.example",
            email: "ceo@example.com",
        };
        let message = composer().render(
            &EmailKind::Activation {
                token: "t".to_owned(),
            },
            &stranger,
        );
        assert!(!message.text.contains("evil") && !message.html.contains("evil"));
    }

    #[test]
    fn notifications_carry_no_link() {
        for kind in [EmailKind::PasswordChanged, EmailKind::ActivationConfirmed] {
            let message = composer().render(&kind, &bob());
            assert!(!message.text.contains("https://"), "{}", message.text);
        }
    }
}
