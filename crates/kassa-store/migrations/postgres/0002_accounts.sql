-- Merchant accounts, their users (owner and staff), sessions, single-use e-mail tokens,
-- two-factor recovery codes, login history, the activity log and rate-limit counters.
-- Times are microseconds since the Unix epoch.

create table merchant (
    merchant_id bigint generated always as identity primary key,
    name text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table app_user (
    user_id bigint generated always as identity primary key,
    merchant_id bigint not null
        constraint app_user_merchant references merchant (merchant_id),
    email text not null,
    name text not null default '',
    -- argon2id PHC string; null until an invited user sets a password
    password_hash text,
    role text not null
        constraint app_user_role_known
        check (role in ('owner', 'admin', 'developer', 'accountant', 'support', 'viewer')),
    status text not null
        constraint app_user_status_known check (status in ('invited', 'active', 'revoked')),
    email_confirmed_at bigint,
    locale text not null default 'en',
    -- TOTP secrets are sealed with the master key
    totp_secret text,
    totp_pending text,
    totp_enabled_at bigint,
    totp_last_step bigint,
    invited_by bigint
        constraint app_user_invited_by references app_user (user_id),
    created_at bigint not null,
    updated_at bigint not null
);

create unique index app_user_email_unique on app_user (email);
create index app_user_by_merchant on app_user (merchant_id, user_id);

-- Sections the owner opened or closed for one user, on top of the role's defaults.
create table user_section (
    user_id bigint not null
        constraint user_section_user references app_user (user_id) on delete cascade,
    section text not null,
    allowed boolean not null,
    created_at bigint not null,
    updated_at bigint not null,
    constraint user_section_pk primary key (user_id, section)
);

create table session (
    session_id bigint generated always as identity primary key,
    user_id bigint not null
        constraint session_of_user references app_user (user_id),
    -- SHA-256 of the cookie token; the token itself is never stored
    token_hash text not null,
    stage text not null
        constraint session_stage_known check (stage in ('mfa_pending', 'active')),
    ip text not null,
    user_agent text not null,
    reauth_at bigint,
    last_seen_at bigint not null,
    expires_at bigint not null,
    revoked_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create unique index session_token_unique on session (token_hash);
create index session_by_user on session (user_id, session_id);

create table user_token (
    user_token_id bigint generated always as identity primary key,
    user_id bigint not null
        constraint user_token_user references app_user (user_id) on delete cascade,
    purpose text not null
        constraint user_token_purpose_known
        check (purpose in ('confirm_email', 'reset_password', 'change_email', 'invite')),
    token_hash text not null,
    new_email text,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null
);

create unique index user_token_unique on user_token (token_hash);
create index user_token_by_user on user_token (user_id, purpose);

create table recovery_code (
    recovery_code_id bigint generated always as identity primary key,
    user_id bigint not null
        constraint recovery_code_user references app_user (user_id) on delete cascade,
    code_hash text not null,
    used_at bigint,
    created_at bigint not null
);

create index recovery_code_by_user on recovery_code (user_id);

create table login_event (
    login_event_id bigint generated always as identity primary key,
    -- null when the e-mail matches no account
    user_id bigint
        constraint login_event_user references app_user (user_id),
    email text not null,
    outcome text not null,
    ip text not null,
    user_agent text not null,
    created_at bigint not null
);

create index login_event_by_user on login_event (user_id, login_event_id);

create table activity (
    activity_id bigint generated always as identity primary key,
    merchant_id bigint not null
        constraint activity_merchant references merchant (merchant_id),
    -- null when the operator acted through the command line
    actor_user_id bigint
        constraint activity_actor references app_user (user_id),
    action text not null,
    target_type text not null,
    target_id text not null,
    -- JSON object, e.g. {"before": …, "after": …}
    details text not null,
    ip text not null,
    created_at bigint not null
);

create index activity_by_merchant on activity (merchant_id, activity_id);

create table rate_limit (
    bucket text primary key,
    window_start bigint not null,
    hits bigint not null
);
