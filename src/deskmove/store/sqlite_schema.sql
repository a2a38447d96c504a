-- deskmove: what the migrations make of a new, empty SQLite store.
-- Written by `python -m deskmove.store.newstore`; tests/test_schema.py checks it.
-- revision: 0012

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE audit_checks (
	item VARCHAR NOT NULL, 
	checked BOOLEAN NOT NULL, 
	note VARCHAR, 
	evidence_hash VARCHAR, 
	updated_at DATETIME, 
	PRIMARY KEY (item)
);
CREATE TABLE groups (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_groups_name ON groups (name);
CREATE TABLE id_map (
	id INTEGER NOT NULL, 
	connection VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	entity_id INTEGER NOT NULL, 
	native_id VARCHAR, 
	pushed_hash VARCHAR, 
	state VARCHAR NOT NULL, 
	run_id INTEGER, 
	created_at DATETIME, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (connection, kind, entity_id)
);
CREATE INDEX ix_id_map_native ON id_map (connection, kind, native_id);
CREATE TABLE organizations (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	domains JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_organizations_name ON organizations (name);
CREATE TABLE provenance (
	id INTEGER NOT NULL, 
	connection VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	native_id VARCHAR NOT NULL, 
	entity_id INTEGER NOT NULL, 
	content_hash VARCHAR, 
	run_id INTEGER, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (connection, kind, native_id)
);
CREATE INDEX ix_provenance_entity_id ON provenance (entity_id);
CREATE TABLE quarantine (
	id INTEGER NOT NULL, 
	run_id INTEGER, 
	connection VARCHAR NOT NULL, 
	native_ref VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	raw_sha256 VARCHAR, 
	created_at DATETIME, 
	resolved BOOLEAN NOT NULL, kind VARCHAR, native_id VARCHAR, context JSON, resolution VARCHAR, note VARCHAR, resolved_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_quarantine_ref ON quarantine (connection, native_ref);
CREATE INDEX ix_quarantine_run_id ON quarantine (run_id);
CREATE TABLE runs (
	id INTEGER NOT NULL, 
	command VARCHAR NOT NULL, 
	connection VARCHAR, 
	started_at DATETIME, 
	finished_at DATETIME, 
	status VARCHAR NOT NULL, 
	counts JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE sync_state (
	connection VARCHAR NOT NULL, 
	stream VARCHAR NOT NULL, 
	cursor JSON NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (connection, stream)
);
CREATE TABLE people (
	id INTEGER NOT NULL, 
	name VARCHAR, 
	role VARCHAR NOT NULL, 
	phone VARCHAR, 
	organization_id INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id)
);
CREATE INDEX ix_people_organization_id ON people (organization_id);
CREATE TABLE person_emails (
	id INTEGER NOT NULL, 
	person_id INTEGER NOT NULL, 
	email VARCHAR NOT NULL, 
	"primary" BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(person_id) REFERENCES people (id), 
	UNIQUE (email)
);
CREATE INDEX ix_person_emails_person_id ON person_emails (person_id);
CREATE TABLE tickets (
	id INTEGER NOT NULL, 
	subject VARCHAR, 
	status VARCHAR NOT NULL, 
	priority VARCHAR, 
	type VARCHAR, 
	channel VARCHAR NOT NULL, 
	requester_id INTEGER, 
	assignee_id INTEGER, 
	group_id INTEGER, 
	organization_id INTEGER, 
	tags JSON NOT NULL, 
	custom_fields JSON NOT NULL, 
	created_at DATETIME, 
	updated_at DATETIME, 
	solved_at DATETIME, 
	is_auto BOOLEAN NOT NULL, 
	is_spam BOOLEAN NOT NULL, 
	origin_source VARCHAR, 
	origin_id VARCHAR, 
	thread_key VARCHAR, 
	PRIMARY KEY (id), 
	FOREIGN KEY(assignee_id) REFERENCES people (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id), 
	FOREIGN KEY(requester_id) REFERENCES people (id)
);
CREATE INDEX ix_tickets_created_at ON tickets (created_at);
CREATE INDEX ix_tickets_requester_id ON tickets (requester_id);
CREATE INDEX ix_tickets_thread_key ON tickets (thread_key);
CREATE INDEX ix_tickets_updated_at ON tickets (updated_at);
CREATE TABLE messages (
	id INTEGER NOT NULL, 
	ticket_id INTEGER NOT NULL, 
	author_id INTEGER, 
	public BOOLEAN NOT NULL, 
	direction VARCHAR NOT NULL, 
	created_at DATETIME, 
	created_tz INTEGER, 
	subject VARCHAR, 
	body_text VARCHAR, 
	body_html VARCHAR, 
	"to" JSON NOT NULL, 
	cc JSON NOT NULL, 
	message_id VARCHAR, 
	in_reply_to VARCHAR, 
	"references" JSON NOT NULL, 
	raw_sha256 VARCHAR, 
	headers JSON NOT NULL, 
	is_auto BOOLEAN NOT NULL, 
	origin_id VARCHAR, author_email VARCHAR, 
	PRIMARY KEY (id), 
	FOREIGN KEY(author_id) REFERENCES people (id), 
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);
CREATE INDEX ix_messages_author_id ON messages (author_id);
CREATE INDEX ix_messages_created_at ON messages (created_at);
CREATE INDEX ix_messages_message_id ON messages (message_id);
CREATE INDEX ix_messages_ticket_id ON messages (ticket_id);
CREATE TABLE attachments (
	id INTEGER NOT NULL, 
	message_id INTEGER NOT NULL, 
	filename VARCHAR, 
	content_type VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	sha256 VARCHAR NOT NULL, 
	content_id VARCHAR, 
	inline BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(message_id) REFERENCES messages (id)
);
CREATE INDEX ix_attachments_message_id ON attachments (message_id);
CREATE INDEX ix_attachments_sha256 ON attachments (sha256);
CREATE INDEX ix_provenance_run ON provenance (run_id);
CREATE INDEX ix_id_map_state ON id_map (connection, state);
CREATE INDEX ix_id_map_run ON id_map (connection, run_id);
CREATE INDEX ix_quarantine_item ON quarantine (connection, kind, native_id);
CREATE TABLE web_users (
	id INTEGER NOT NULL, 
	email VARCHAR NOT NULL, 
	name VARCHAR, 
	role VARCHAR NOT NULL, 
	password_hash VARCHAR NOT NULL, 
	person_id INTEGER, 
	language VARCHAR, 
	timezone VARCHAR, 
	created_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (email)
);
CREATE TABLE web_sessions (
	token_hash VARCHAR NOT NULL, 
	user_id INTEGER NOT NULL, 
	csrf VARCHAR NOT NULL, 
	created_at DATETIME, 
	seen_at DATETIME, 
	expires_at DATETIME, 
	PRIMARY KEY (token_hash), 
	FOREIGN KEY(user_id) REFERENCES web_users (id) ON DELETE CASCADE
);
CREATE INDEX ix_web_sessions_user_id ON web_sessions (user_id);
CREATE TABLE web_login_failures (
	"key" VARCHAR NOT NULL, 
	count INTEGER NOT NULL, 
	first_at DATETIME, 
	PRIMARY KEY ("key")
);
CREATE TABLE web_presence (
	ticket_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	state VARCHAR NOT NULL, 
	seen_at DATETIME, 
	PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ix_web_presence_seen_at ON web_presence (seen_at);
CREATE TABLE web_drafts (
	id INTEGER NOT NULL, 
	ticket_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	form_token VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	"to" JSON NOT NULL, 
	cc JSON NOT NULL, 
	subject VARCHAR, 
	body VARCHAR NOT NULL, 
	mail_id VARCHAR NOT NULL, 
	in_reply_to VARCHAR, 
	"references" JSON NOT NULL, 
	seen_upto INTEGER NOT NULL, 
	error VARCHAR, 
	message_row_id INTEGER, 
	created_at DATETIME, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (form_token)
);
CREATE INDEX ix_web_drafts_ticket_id ON web_drafts (ticket_id);
CREATE TABLE store_changes (
	name VARCHAR NOT NULL, 
	n BIGINT NOT NULL, 
	PRIMARY KEY (name)
);
CREATE INDEX ix_tickets_status_updated ON tickets (status, updated_at, id, assignee_id, channel, group_id);
CREATE INDEX ix_tickets_assignee_updated ON tickets (assignee_id, updated_at, id, status, channel, group_id);
CREATE TABLE web_ticket_edits (
	ticket_id INTEGER NOT NULL, 
	field VARCHAR NOT NULL, 
	"before" VARCHAR, 
	edited_at DATETIME, 
	PRIMARY KEY (ticket_id, field)
);
CREATE TABLE blobs (
	sha256 VARCHAR NOT NULL, 
	data BLOB NOT NULL, 
	PRIMARY KEY (sha256)
);
CREATE VIRTUAL TABLE "search_fts" USING fts5(doc, tokenize = 'ascii');
INSERT INTO "alembic_version" VALUES ('0012');
INSERT INTO "store_changes" VALUES ('tickets', 0);
