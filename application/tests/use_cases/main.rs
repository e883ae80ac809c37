//! The use cases over in-memory fakes of every port: one test binary.

mod support {
    pub use application::testing::*;
}

mod activate;
mod admin_groups;
mod admin_users;
mod api_keys_and_links;
mod audit;
mod authenticate;
mod change_password;
mod create_superuser;
mod failures;
mod login;
mod me;
mod password_reset;
mod refresh;
mod register;
mod simplejwt_tokens;
mod verify_and_logout;
