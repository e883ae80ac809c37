//! One module per use case.

pub mod authenticate;
pub mod create_superuser;
pub mod login;
pub mod logout;
pub mod me;
pub mod refresh;
pub mod register;
pub mod verify;
