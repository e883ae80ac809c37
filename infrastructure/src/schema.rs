//! Diesel table definitions, matching `migrations/`.

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Varchar,
        email -> Varchar,
        password -> Text,
        first_name -> Varchar,
        last_name -> Varchar,
        is_active -> Bool,
        is_staff -> Bool,
        is_superuser -> Bool,
        date_joined -> Timestamptz,
        last_login -> Nullable<Timestamptz>,
        password_changed_at -> Timestamptz,
        pending_activation -> Bool,
    }
}

diesel::table! {
    refresh_tokens (jti) {
        jti -> Uuid,
        user_id -> Int8,
        family_id -> Uuid,
        parent_jti -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        session_started_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        replaced_by -> Nullable<Uuid>,
        last_used_at -> Nullable<Timestamptz>,
        user_agent -> Nullable<Varchar>,
        ip -> Nullable<Varchar>,
        parent_family_id -> Nullable<Uuid>,
        from_simplejwt -> Bool,
    }
}

diesel::joinable!(refresh_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, refresh_tokens);

diesel::table! {
    one_time_tokens (id) {
        id -> Int8,
        token_hash -> Bytea,
        user_id -> Int8,
        purpose -> Varchar,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Int8,
        recipient -> Varchar,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        refusals -> Int4,
        failed_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(one_time_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, one_time_tokens);

diesel::table! {
    groups (id) {
        id -> Int8,
        name -> Varchar,
    }
}

diesel::table! {
    permissions (id) {
        id -> Int8,
        name -> Varchar,
        app_label -> Varchar,
        codename -> Varchar,
    }
}

diesel::table! {
    user_groups (user_id, group_id) {
        user_id -> Int8,
        group_id -> Int8,
    }
}

diesel::table! {
    group_permissions (group_id, permission_id) {
        group_id -> Int8,
        permission_id -> Int8,
    }
}

diesel::table! {
    user_permissions (user_id, permission_id) {
        user_id -> Int8,
        permission_id -> Int8,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    groups,
    permissions,
    user_groups,
    group_permissions,
    user_permissions
);

diesel::table! {
    audit_events (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        event_type -> Varchar,
        actor_id -> Nullable<Int8>,
        subject_user_id -> Nullable<Int8>,
        ip -> Nullable<Varchar>,
        user_agent -> Nullable<Varchar>,
        details -> Jsonb,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        key_hash -> Bytea,
        user_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, api_tokens);

diesel::table! {
    django_imported_users (user_id) {
        user_id -> Int8,
        imported -> Jsonb,
        imported_at -> Timestamptz,
    }
}

diesel::table! {
    django_imported_groups (django_id) {
        django_id -> Int8,
        group_id -> Int8,
        permissions -> Array<Int8>,
    }
}

diesel::table! {
    django_imported_keys (key_hash) {
        key_hash -> Bytea,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, django_imported_users);
