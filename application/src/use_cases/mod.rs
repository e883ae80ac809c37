//! One module per use case.

pub mod activate;
pub mod admin_groups;
pub mod admin_permissions;
pub mod admin_users;
pub mod audit;
pub mod authenticate;
pub mod change_password;
pub mod create_superuser;
pub mod login;
pub mod logout;
pub mod me;
pub mod password_reset;
pub mod refresh;
pub mod register;
pub mod sessions;
pub mod verify;
