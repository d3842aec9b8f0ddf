"""The store's tables (SQLAlchemy Core); Alembic migrations in `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# The durable queue. `state` is queued | running | done | dead.
tasks = Table(
    "tasks",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("kind", String(100), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(10), nullable=False, default="queued"),
    Column("dedupe_key", String(300), unique=True),
    Column("ordering_key", String(300)),
    Column("run_at", Float, nullable=False),
    Column("enqueued_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", Float),
    Column("locked_by", String(100)),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("last_error", Text),
)
Index("ix_tasks_ordering", tasks.c.ordering_key, tasks.c.state, tasks.c.id)

# Queue priorities and fairness (issue 13, migration 0006): `priority` 0 live, 1 poll, 2 bulk;
# `lane` the system a task belongs to (`connector.keys.lane`). A claim reads the due head of each
# (priority, lane) through `ix_tasks_claim`, never the future-dated rest.
tasks.append_column(Column("priority", SmallInteger, nullable=False, server_default="1"))
tasks.append_column(Column("lane", String(30), nullable=False, server_default=""))
Index("ix_tasks_claim", tasks.c.state, tasks.c.priority, tasks.c.lane, tasks.c.run_at)

# One row per failed attempt: what a dead letter shows an admin.
task_errors = Table(
    "task_errors",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("task_id", BigInteger, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", Float),
    Column("failed_at", Float, nullable=False),
    Column("error_type", String(100), nullable=False),
    Column("message", Text, nullable=False),
)

# Columns that may hold an email address: RFC 5321 allows 64 + 1 + 255 characters.
EMAIL_LENGTH = 320

# Which record in which system is the same entity; `fingerprint` remembers what we last wrote
# (to drop our own echo) and `version` the newest change applied (to drop stale events).
links = Table(
    "links",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("entity", String(30), nullable=False),
    Column("canonical_id", String(100), nullable=False),
    Column("system", String(30), nullable=False),
    Column("external_id", String(EMAIL_LENGTH), nullable=False),  # a Mailchimp member's email
    Column("fingerprint", String(64)),
    Column("version", String(64)),
    Column("data", JSON),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("entity", "system", "external_id", name="uq_links_external"),
    UniqueConstraint("entity", "canonical_id", "system", name="uq_links_canonical"),
)

# Lookup keys (normalised phone, lowercased email, card number) of canonical customers.
identity_keys = Table(
    "identity_keys",
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("value", String(EMAIL_LENGTH), primary_key=True),
    Column("canonical_id", String(100), nullable=False, index=True),
)

# Where each incremental read stopped, per (system, stream).
cursors = Table(
    "cursors",
    metadata,
    Column("system", String(30), primary_key=True),
    Column("stream", String(60), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Every write the connector made to a remote system.
audit = Table(
    "audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", Float, nullable=False, index=True),
    Column("task_id", BigInteger),
    Column("system", String(30), nullable=False),
    Column("entity", String(30), nullable=False),
    Column("external_id", String(EMAIL_LENGTH)),
    Column("action", String(30), nullable=False),
    Column("canonical_id", String(100), index=True),
    Column("detail", JSON),
)

# Webhook bodies as received, stored before they are acknowledged. The task an event queued
# carries the dedupe key `inbound:<source>:<delivery_id>`.
inbound_events = Table(
    "inbound_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("source", String(30), nullable=False),
    Column("delivery_id", String(300), nullable=False),
    Column("topic", String(100)),
    Column("received_at", Float, nullable=False, index=True),
    Column("headers", JSON),
    Column("body", Text, nullable=False),
    UniqueConstraint("source", "delivery_id", name="uq_inbound_delivery"),
)

# Credentials the connector must keep between runs (OAuth refresh tokens, application tokens).
credentials = Table(
    "credentials",
    metadata,
    Column("system", String(30), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Loyalty -----------------------------------------------------------------------------------------
# Owned by connector/loyalty/ (migration 0002). Points are integers of hundredths, never floats.

# One bonus account per canonical customer; the card number is issued or taken from the shop/POS.
loyalty_accounts = Table(
    "loyalty_accounts",
    metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("card_number", String(40), unique=True),
    Column("tier", String(40)),
    Column("created_at", Float, nullable=False),
)

# Entries are never edited: a balance is the sum of its column. `reverses` says what a reversal
# undoes (accrual | spend); `shortfall` is what a capped movement could not take (never negative).
loyalty_entries = Table(
    "loyalty_entries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("customer_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("available", BigInteger, nullable=False, default=0),
    Column("pending", BigInteger, nullable=False, default=0),
    Column("held", BigInteger, nullable=False, default=0),
    Column("shortfall", BigInteger, nullable=False, default=0),
    Column("reverses", String(20)),
    Column("order_id", String(200)),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float),
    Column("detail", JSON),
)
Index("ix_loyalty_entries_customer", loyalty_entries.c.customer_id, loyalty_entries.c.id)
Index("ix_loyalty_entries_order", loyalty_entries.c.order_id)

# What is known of each order (facts merged from events in any order); entries derive from it.
loyalty_orders = Table(
    "loyalty_orders",
    metadata,
    Column("order_id", String(200), primary_key=True),
    Column("customer_id", String(100), nullable=False, index=True),
    Column("total", BigInteger, nullable=False, default=0),
    Column("bonus_spent", BigInteger, nullable=False, default=0),
    Column("paid_version", String(64)),
    Column("paid_at", Float),
    Column("delivered_at", Float),
    Column("closed", String(20)),
    Column("closed_at", Float),
    Column("refunds", JSON, nullable=False),
    Column("confirmed_spend", BigInteger, nullable=False, default=0),
    Column("accrual", BigInteger),
    Column("release_due_at", Float),
    Column("released", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)
Index("ix_loyalty_orders_release", loyalty_orders.c.released, loyalty_orders.c.release_due_at)

# Mappings ----------------------------------------------------------------------------------------
# Owned by connector/mapping/saved.py (migration 0005). The last set of mapping files that
# validated, so a restart with a broken file runs on it instead of refusing every task: `files`
# maps each file's path inside the mappings folder (with `/`) to its text.
mapping_sets = Table(
    "mapping_sets",
    metadata,
    Column("name", String(30), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("files", JSON, nullable=False),
    Column("saved_at", Float, nullable=False),
)

# Admin console -----------------------------------------------------------------------------------
# Owned by connector/admin/ (migration 0007): accounts, server-side sessions, refused sign-ins
# (the rate limit) and the trail of what each account did.
admin_accounts = Table(
    "admin_accounts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(10), nullable=False),  # viewer | operator | admin
    Column("password_hash", String(300), nullable=False),
    Column("created_at", Float, nullable=False),
)

# `id` is the SHA-256 of the cookie's token: a stolen copy of the table signs nobody in.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("address", String(64)),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

admin_signin_failures = Table(
    "admin_signin_failures",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account", String(100), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", Float, nullable=False),
)
Index(
    "ix_admin_signin_failures_account",
    admin_signin_failures.c.account,
    admin_signin_failures.c.at,
)
Index(
    "ix_admin_signin_failures_address",
    admin_signin_failures.c.address,
    admin_signin_failures.c.at,
)

admin_actions = Table(
    "admin_actions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", Float, nullable=False, index=True),
    Column("account", String(100), nullable=False, index=True),
    Column("action", String(60), nullable=False),
    Column("target", String(300)),
    Column("address", String(64)),
    Column("detail", JSON),
)

# What the console's pages read fast on a big store (bench/admin.py): dead letters newest
# first, failures of the last hour; and (an expression index made by the migration, not here)
# `ix_links_customer_of`, a hub order's customer.
Index("ix_tasks_state_id", tasks.c.state, tasks.c.id)
Index("ix_task_errors_failed", task_errors.c.failed_at)

# Indexes on an expression that each dialect spells its own way, so a migration makes them with
# raw SQL and this metadata cannot declare them; comparing the schema with the metadata
# (autogenerate, tests/core/test_service.py) leaves them out.
MIGRATION_ONLY_INDEXES = frozenset({"ix_links_customer_of"})

# Alerts and health signals -----------------------------------------------------------------------
# Owned by connector/observe.py and connector/alerts/ (migration 0008).

# The last success of each task kind and its last hour read a few entries of this index instead
# of every finished task (connector/observe.py); the last hour's failures read the console's
# ix_task_errors_failed. (It also serves whatever ix_tasks_state_kind, its prefix, serves.)
Index("ix_tasks_state_kind_finished", tasks.c.state, tasks.c.kind, tasks.c.finished_at)

# Refused webhook signatures per source and minute (unix time // 60). Counted in memory and
# written every few seconds: a flood of bad signatures costs one write per interval.
webhook_refusals = Table(
    "webhook_refusals",
    metadata,
    Column("source", String(30), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)

# One row per incident (a rule's condition on a subject, from when it holds until it clears)
# or per digest (state `notice`: the dead letters of one interval). `open_key` is set while an
# incident is open (and for good on a digest), so two evaluations never open one twice.
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("rule", String(40), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("state", String(10), nullable=False),  # open | cleared | notice
    Column("open_key", String(160)),
    Column("summary", Text, nullable=False),
    Column("detail", JSON),
    Column("opened_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("cleared_at", Float),
    UniqueConstraint("open_key", name="uq_alert_incidents_open"),
)
Index("ix_alert_incidents_state", alert_incidents.c.state, alert_incidents.c.id)

# Each message an incident owes a channel (event open | clear | notice): sent once (`sent_at`),
# tried again at the next evaluation while it fails; `claimed_until` keeps two evaluations from
# sending it at once.
alert_sends = Table(
    "alert_sends",
    metadata,
    Column("incident_id", BigInteger, primary_key=True),
    Column("event", String(10), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_until", Float),
    Column("sent_at", Float),
    Column("last_error", Text),
)
Index("ix_alert_sends_pending", alert_sends.c.sent_at, alert_sends.c.incident_id)

# Admin console: mapping versions and sync jobs ---------------------------------------------------
# Owned by connector/mapping/versions.py and connector/sync/progress.py (migration 0010).

# Every version of a mapping file saved or reverted from the console, and the text found on disk
# before the first save or after a change made outside the console (`action` found). `path` is
# the file's path inside the mappings folder, with `/`.
mapping_versions = Table(
    "mapping_versions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("path", String(300), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("action", String(20), nullable=False),  # save | revert | found
    Column("reverts_to", BigInteger),  # the version a revert brought back
    Column("saved_by", String(100), nullable=False),
    Column("saved_at", Float, nullable=False),
)
Index("ix_mapping_versions_path", mapping_versions.c.path, mapping_versions.c.id)

# A poll or a full sync started from the console; one row per stream, updated by the task that
# reads it (`state` waiting | running | done | failed), so the page shows its progress.
sync_jobs = Table(
    "sync_jobs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("system", String(30), nullable=False),
    Column("kind", String(10), nullable=False),  # poll | full
    Column("options", JSON),
    Column("requested_by", String(100), nullable=False),
    Column("requested_at", Float, nullable=False),
)
Index("ix_sync_jobs_system", sync_jobs.c.system, sync_jobs.c.id)

sync_job_streams = Table(
    "sync_job_streams",
    metadata,
    Column("job_id", BigInteger, primary_key=True),
    Column("stream", String(60), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("task_id", BigInteger),  # the task that reads the stream
    Column("state", String(10), nullable=False),
    Column("pages", Integer, nullable=False, default=0),
    Column("records", Integer, nullable=False, default=0),
    Column("total", Integer),  # records the read will see, when the system says
    Column("enqueued", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("started_at", Float),
    Column("updated_at", Float, nullable=False),
)

# Customer analytics --------------------------------------------------------------------------
# Owned by connector/analytics/ (migration 0009). Money in hundredths, moments as epoch seconds.

# What each order contributes to its buyer's figures: kept by the order flow, read by the nightly
# recompute in one grouped query. `counts` is 1 for a paid order not cancelled or fully refunded;
# `amount` is net of refunds.
analytics_orders = Table(
    "analytics_orders",
    metadata,
    Column("order_id", String(200), primary_key=True),
    Column("customer_id", String(100), nullable=False),
    Column("ordered_at", Float, nullable=False),
    Column("amount", BigInteger, nullable=False, default=0),
    Column("counts", Integer, nullable=False, default=0),
    Column("channel", String(60)),
    Column("category", String(100)),
    Column("updated_at", Float, nullable=False),
)
Index("ix_analytics_orders_customer", analytics_orders.c.customer_id, analytics_orders.c.counts)

# Each customer's figures as last computed; `published` holds, per system, the values last
# written there, so only what changed is pushed.
customer_figures = Table(
    "customer_figures",
    metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("orders_count", Integer, nullable=False, default=0),
    Column("revenue", BigInteger, nullable=False, default=0),
    Column("first_order_at", Float),
    Column("last_order_at", Float),
    Column("mean_days_between", Float),
    Column("favourite_channel", String(60)),
    Column("favourite_category", String(100)),
    Column("r", Integer),
    Column("f", Integer),
    Column("m", Integer),
    Column("segment", String(60)),
    Column("segment_since", Float),
    Column("p_alive", Float),
    Column("expected_orders", Float),
    Column("published", JSON),
    Column("updated_at", Float, nullable=False),
)
Index("ix_customer_figures_segment", customer_figures.c.segment)

# Every entry into a segment, with its date and why: what journeys and cascades start on.
segment_transitions = Table(
    "segment_transitions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("customer_id", String(100), nullable=False, index=True),
    Column("from_segment", String(60)),
    Column("to_segment", String(60)),
    Column("at", Float, nullable=False, index=True),
    Column("cause", String(20), nullable=False),
    Column("detail", JSON),
)

# One row per nightly recompute: the quantile thresholds and model parameters it found, which
# the order flow's updates use until the next run.
analytics_runs = Table(
    "analytics_runs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("customers", Integer, nullable=False, default=0),
    Column("changed", Integer, nullable=False, default=0),
    Column("cutoffs", JSON),
    Column("model", JSON),
)

# Cascades (issue 16, migration 0011) ------------------------------------------------------------
# Owned by connector/cascades/. A scenario run per customer and trigger; each step's send is one
# row whose `idem_key` ("<run id>:<step>") is written before the provider is called, so a retried
# or duplicated step task finds it and never sends twice.

# `state`: running | converted | stopped | finished. `trigger_key` dedupes trigger events:
# a duplicated, reordered or retried event of the same trigger starts no second run.
cascade_runs = Table(
    "cascade_runs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("scenario", String(100), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("trigger_key", String(300), nullable=False),
    Column("trigger", JSON, nullable=False),  # {event, ref, at, data}: what started the run
    Column("state", String(12), nullable=False),
    Column("step", Integer, nullable=False, default=0),  # the index of the next step
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("stop_reason", String(200)),
    Column("converted_step", Integer),  # the last step sent before the conversion
    Column("converted_ref", String(200)),  # the order that converted it
    UniqueConstraint("scenario", "trigger_key", name="uq_cascade_runs_trigger"),
)
Index("ix_cascade_runs_customer", cascade_runs.c.customer_id, cascade_runs.c.state)
Index("ix_cascade_runs_scenario", cascade_runs.c.scenario, cascade_runs.c.state)

# `state`: reserved (written before the provider call) | sent | skipped | failed | unknown
# (reserved, then the worker died: not sent again) ; `status` the provider's delivery status.
cascade_sends = Table(
    "cascade_sends",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", BigInteger, nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("idem_key", String(100), nullable=False, unique=True),
    Column("customer_id", String(100), nullable=False),
    Column("channel", String(30), nullable=False),  # the system: smsru, twilio, telegram, ...
    Column("medium", String(20), nullable=False),  # email | sms | messenger
    Column("marketing", SmallInteger, nullable=False, default=1),
    Column("state", String(12), nullable=False),
    Column("reason", String(200)),  # why skipped or failed
    Column("address", String(320)),  # where it went (masked wherever it is shown)
    Column("provider_id", String(200)),
    Column("status", String(30)),  # the provider's last delivery status
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("status_at", Float),
)
Index("ix_cascade_sends_provider", cascade_sends.c.channel, cascade_sends.c.provider_id)
Index(
    "ix_cascade_sends_cap",
    cascade_sends.c.customer_id,
    cascade_sends.c.medium,
    cascade_sends.c.sent_at,
)

# An address that said STOP, blocked the bot or unsubscribed: no scenario sends there again.
channel_optouts = Table(
    "channel_optouts",
    metadata,
    Column("medium", String(20), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("channel", String(30), nullable=False),
    Column("reason", String(100), nullable=False),
    Column("at", Float, nullable=False),
)

# One-time tokens of Telegram start links (t.me/<bot>?start=<token>): binding the chat to the
# customer; the binding itself is a link (entity customer, system telegram, the chat id).
telegram_tokens = Table(
    "telegram_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("customer_id", String(100), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
    Column("chat_id", String(64)),
)

# --- catalogue (issue 17, migration 0012) ---------------------------------------------------
# The canonical catalogue, copied from its master (the shop, a CSV file or a POS export):
# one row per product, one per variant (a simple product is its own variant, same id). A
# deleted or sold-out product stays, marked unavailable. Money is kept as decimal text.
catalogue_products = Table(
    "catalogue_products",
    metadata,
    Column("product_id", String(100), primary_key=True),
    Column("master", String(30), nullable=False),  # woocommerce | csv | pos
    Column("name", String(300), nullable=False),
    Column("description", Text),
    Column("url", String(1000)),
    Column("image_url", String(1000)),
    Column("status", String(12), nullable=False),  # active | deleted | draft
    Column("modified", String(40)),  # the master's modification time (ISO), the poll cursor
    Column("fingerprint", String(64), nullable=False),  # of the product with its variants
    Column("updated_at", Float, nullable=False),
)
Index("ix_catalogue_products_modified", catalogue_products.c.modified)

catalogue_variants = Table(
    "catalogue_variants",
    metadata,
    Column("product_id", String(100), primary_key=True),
    Column("variant_id", String(100), primary_key=True),
    Column("sku", String(100)),
    Column("name", String(300), nullable=False),
    Column("price", String(32)),  # the regular price
    Column("sale_price", String(32)),
    Column("sale_from", String(40)),  # ISO; empty = from now
    Column("sale_to", String(40)),  # ISO; empty = open ended
    Column("currency", String(3), nullable=False),
    Column("stock", Integer),  # the sum over warehouses; empty = not tracked
    Column("stock_by_warehouse", JSON),  # {warehouse: quantity} where the master has it
    Column("in_stock", SmallInteger, nullable=False),  # the master's own status
    Column("image_url", String(1000)),
    Column("url", String(1000)),
    Column("position", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)
Index("ix_catalogue_variants_sku", catalogue_variants.c.sku)

# One row per offline sale line that decrements the master's stock: written before the call to
# the master, so a retried import never decrements twice. `state`: reserved | written | skipped.
catalogue_stock_writes = Table(
    "catalogue_stock_writes",
    metadata,
    Column("line_key", String(200), primary_key=True),
    Column("sku", String(100), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("state", String(12), nullable=False),
    Column("detail", String(200)),
    Column("at", Float, nullable=False),
)

# --------------------------------------------------------------------------- promo codes (0013)
# One row per shop coupon (connector/promo): an order's code finds its coupon (`code_key` is the
# code lowercased, as shops compare codes), and the expiry job finds enabled codes whose end has
# come (`expires_at`, epoch seconds). The coupon itself is the hub snapshot (links, entity coupon).
promo_codes = Table(
    "promo_codes",
    metadata,
    Column("canonical_id", String(100), primary_key=True),
    Column("source", String(30), nullable=False),
    Column("coupon_id", String(100), nullable=False),
    Column("code_key", String(100), nullable=False),
    Column("type", String(12), nullable=False),  # percentage | fixed
    Column("expires_at", Float),
    Column("enabled", SmallInteger, nullable=False),
    Column("deleted", SmallInteger, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("source", "coupon_id", name="uq_promo_codes_coupon"),
)
Index("ix_promo_codes_code", promo_codes.c.code_key)
Index("ix_promo_codes_expiry", promo_codes.c.enabled, promo_codes.c.expires_at)

# --------------------------------------------------------------------------- channels (0014)
# The Telegram start link written into each unbound customer's Bitrix24 contact field
# (connector/systems/telegram/crm.py): its token and when it expires, so the job renews only
# the links about to expire.
telegram_crm_links = Table(
    "telegram_crm_links",
    metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("written_at", Float, nullable=False),
)
Index("ix_telegram_crm_links_expires", telegram_crm_links.c.expires_at)

# --------------------------------------------------------------------------- rate buckets (0015)
# The level of each shared request limit (connector/store/buckets.py), one row per portal: every
# process that talks to the portal reserves its request slots here.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("level", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
