//! One module per use case.

pub mod authenticate;
pub mod login;
pub mod logout;
pub mod me;
pub mod refresh;
pub mod register;
pub mod verify;
