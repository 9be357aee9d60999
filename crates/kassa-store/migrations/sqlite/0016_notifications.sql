-- Notifications: an event is written in the transaction of its cause; a job fans it out to
-- the people who may see it, on the channels they chose. The center's rows and each
-- delivery are unique per (event, person[, channel]), so a job that runs twice delivers once.
create table notification_event (
    notification_event_id integer primary key autoincrement,
    merchant_id integer not null
        constraint notification_event_merchant references merchant (merchant_id),
    kind text not null,
    -- For events of one project (people limited to other projects do not get them).
    project_id integer,
    -- For personal events (security): only this person.
    user_id integer,
    -- What the message says, as JSON parameters (never a secret).
    params text not null,
    -- Where the message links to in the dashboard.
    link text,
    created_at integer not null
);

create table notification (
    notification_id integer primary key autoincrement,
    user_id integer not null
        constraint notification_user references app_user (user_id),
    notification_event_id integer
        constraint notification_event references notification_event (notification_event_id),
    kind text not null,
    params text not null,
    link text,
    read_at integer,
    created_at integer not null
);

create unique index notification_once on notification (notification_event_id, user_id);
create index notification_by_user on notification (user_id, notification_id);
create index notification_unread on notification (user_id, read_at);

create table notification_delivery (
    notification_delivery_id integer primary key autoincrement,
    notification_event_id integer not null
        constraint notification_delivery_event references notification_event (notification_event_id),
    user_id integer not null
        constraint notification_delivery_user references app_user (user_id),
    channel text not null
        constraint notification_delivery_channel_known check (channel in ('email', 'telegram')),
    state text not null
        constraint notification_delivery_state_known
        check (state in ('queued', 'sent', 'grouped', 'failed')),
    -- The minute (Unix time / 60) the event fell in: bursts are grouped per person, channel
    -- and minute.
    bucket integer not null,
    error text,
    created_at integer not null,
    updated_at integer not null
);

create unique index notification_delivery_once on notification_delivery (notification_event_id, user_id, channel);
create index notification_delivery_by_bucket on notification_delivery (user_id, channel, bucket);

-- One summary per person, channel and minute of a burst.
create table notification_digest (
    user_id integer not null,
    channel text not null,
    bucket integer not null,
    sent_at integer,
    primary key (user_id, channel, bucket)
);

-- A person's choices, over the defaults: (event kind, channel) → on or off.
create table notification_pref (
    user_id integer not null
        constraint notification_pref_user references app_user (user_id),
    kind text not null,
    channel text not null,
    enabled integer not null,
    primary key (user_id, kind, channel)
);

-- Telegram: a person's linked chat, the one-time link tokens (hashed) and the bot's update
-- offset (so a restart does not read an update twice).
create table telegram_chat (
    user_id integer primary key
        constraint telegram_chat_user references app_user (user_id),
    chat_id integer not null,
    username text,
    linked_at integer not null
);

create table telegram_link (
    token_hash text primary key,
    user_id integer not null
        constraint telegram_link_user references app_user (user_id),
    expires_at integer not null,
    used_at integer
);

create table telegram_state (
    id integer primary key constraint telegram_state_one check (id = 1),
    update_offset integer not null
);
