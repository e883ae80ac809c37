//! Email: templates, the transactional outbox and its delivery worker, and the
//! mailers (SMTP through lettre; the log, in development).

pub(crate) mod composer;
mod mailers;
pub(crate) mod outbox;

pub use composer::{EmailComposer, EmailTemplates};
pub use mailers::{LogMailer, SmtpMailer, SmtpSettings, SmtpTls};
pub use outbox::{Outbox, OutboxSettings, OutboxWorker, record_backlog};
