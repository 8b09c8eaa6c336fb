"""The ledger core: chart of accounts, entries and postings with the database's own guards,
the partnership founded from its charter, users and tokens, idempotency records.

The guards (both engines):
- ``entry`` and ``posting`` rows can be neither updated nor deleted;
- a posting may not be added to an entry that already exists (postings are written first, then
  the entry that seals them);
- an entry may not be inserted unless its postings number at least two and sum to zero per
  commodity;
- on PostgreSQL, also a DEFERRABLE INITIALLY DEFERRED constraint trigger re-checks each new entry's
  balance at commit, and the posting → entry foreign key is deferred (so is SQLite's).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('commodities', sa.String(length=100), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('name', name=op.f('uq_account_name'))
    )
    op.create_table('chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_head'))
    )
    op.create_table('client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client')),
    sa.UniqueConstraint('code', name=op.f('uq_client_code'))
    )
    op.create_table('entry',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('memo', sa.String(length=500), nullable=False),
    sa.Column('source_type', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=False),
    sa.Column('policy_version', sa.Integer(), nullable=True),
    sa.Column('reverses_id', sa.BigInteger(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reverses_id'], ['entry.id'], name=op.f('fk_entry_reverses_id_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entry')),
    sa.UniqueConstraint('hash', name=op.f('uq_entry_hash')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_entry_idempotency_key')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_entry_reverses_id'))
    )
    with op.batch_alter_table('entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_date'), ['date'], unique=False)

    op.create_table('firm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('vetted', sa.String(length=200), nullable=False),
    sa.Column('nsa_signed_on', sa.Date(), nullable=True),
    sa.Column('nsa_expires_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firm')),
    sa.UniqueConstraint('code', name=op.f('uq_firm_code'))
    )
    op.create_table('governance_rule',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('weighting', sa.String(length=10), nullable=False),
    sa.Column('quorum', sa.String(length=40), nullable=False),
    sa.Column('threshold', sa.String(length=16), nullable=False),
    sa.Column('of', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_governance_rule'))
    )
    op.create_table('partner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('joined_on', sa.Date(), nullable=False),
    sa.Column('retired_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner')),
    sa.UniqueConstraint('code', name=op.f('uq_partner_code')),
    sa.UniqueConstraint('email', name=op.f('uq_partner_email'))
    )
    op.create_table('partnership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_kind', sa.String(length=10), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('open_books', sa.Boolean(), nullable=False),
    sa.Column('goodwill_multiple', sa.String(length=40), nullable=False),
    sa.Column('lookback_periods', sa.Integer(), nullable=False),
    sa.Column('installments', sa.Integer(), nullable=False),
    sa.Column('founded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partnership'))
    )
    op.create_table('period',
    sa.Column('id', sa.String(length=8), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('policy_version', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_period'))
    )
    op.create_table('policy_version',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('origination', sa.String(length=40), nullable=False),
    sa.Column('practice', sa.String(length=40), nullable=False),
    sa.Column('pool_basis', sa.String(length=16), nullable=False),
    sa.Column('effective_period', sa.String(length=8), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_policy_version'))
    )
    with op.batch_alter_table('policy_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_version_effective_period'), ['effective_period'], unique=False)

    op.create_table('practice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practice')),
    sa.UniqueConstraint('code', name=op.f('uq_practice_code'))
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'treasurer', 'partner')", name=op.f('ck_app_user_role')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_app_user_partner_id_partner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('email', name=op.f('uq_app_user_email'))
    )
    op.create_table('engagement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('originator_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_engagement_client_id_client')),
    sa.ForeignKeyConstraint(['originator_id'], ['partner.id'], name=op.f('fk_engagement_originator_id_partner')),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_engagement_practice_id_practice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement')),
    sa.UniqueConstraint('ref', name=op.f('uq_engagement_ref'))
    )
    with op.batch_alter_table('engagement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_practice_id'), ['practice_id'], unique=False)

    op.create_table('grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('cliff_months', sa.Integer(), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('every', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.CheckConstraint('cliff_months <= months OR months = 0', name=op.f('ck_grant_cliff_within')),
    sa.CheckConstraint('cliff_months >= 0 AND months >= 0 AND every >= 1', name=op.f('ck_grant_schedule')),
    sa.CheckConstraint('units > 0', name=op.f('ck_grant_units_positive')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_grant_partner_id_partner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grant'))
    )
    with op.batch_alter_table('grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grant_partner_id'), ['partner_id'], unique=False)

    op.create_table('ownership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('share', sa.String(length=40), nullable=False),
    sa.Column('from_period', sa.String(length=8), nullable=False),
    sa.Column('to_period', sa.String(length=8), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_ownership_partner_id_partner')),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_ownership_practice_id_practice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ownership'))
    )
    with op.batch_alter_table('ownership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ownership_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ownership_practice_id'), ['practice_id'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_token_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('idempotency_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_idempotency_record_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_record')),
    sa.UniqueConstraint('user_id', 'key', name='uq_idempotency_user_key')
    )
    op.create_table('posting',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('commodity', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('engagement_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_posting_account_id_account')),
    sa.ForeignKeyConstraint(['engagement_id'], ['engagement.id'], name=op.f('fk_posting_engagement_id_engagement')),
    sa.ForeignKeyConstraint(['entry_id'], ['entry.id'], name=op.f('fk_posting_entry_id_entry'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posting'))
    )
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_posting_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_posting_engagement_id'), ['engagement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_posting_entry_id'), ['entry_id'], unique=False)

    _create_guards()


def downgrade() -> None:
    _drop_guards()
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posting_entry_id'))
        batch_op.drop_index(batch_op.f('ix_posting_engagement_id'))
        batch_op.drop_index(batch_op.f('ix_posting_account_id'))

    op.drop_table('posting')
    op.drop_table('idempotency_record')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
    with op.batch_alter_table('ownership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ownership_practice_id'))
        batch_op.drop_index(batch_op.f('ix_ownership_partner_id'))

    op.drop_table('ownership')
    with op.batch_alter_table('grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grant_partner_id'))

    op.drop_table('grant')
    with op.batch_alter_table('engagement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_practice_id'))

    op.drop_table('engagement')
    op.drop_table('app_user')
    op.drop_table('practice')
    op.drop_table('policy_version')
    op.drop_table('period')
    op.drop_table('partnership')
    op.drop_table('partner')
    op.drop_table('governance_rule')
    op.drop_table('firm')
    with op.batch_alter_table('entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entry_date'))

    op.drop_table('entry')
    op.drop_table('client')
    op.drop_table('chain_head')
    op.drop_table('account')


SQLITE_GUARDS = [
    """CREATE TRIGGER entry_no_update BEFORE UPDATE ON entry
       BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable: post a reversal instead'); END""",
    """CREATE TRIGGER entry_no_delete BEFORE DELETE ON entry
       BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable: post a reversal instead'); END""",
    """CREATE TRIGGER posting_no_update BEFORE UPDATE ON posting
       BEGIN SELECT RAISE(ABORT, 'ledger postings are immutable: post a reversal instead'); END""",
    """CREATE TRIGGER posting_no_delete BEFORE DELETE ON posting
       BEGIN SELECT RAISE(ABORT, 'ledger postings are immutable: post a reversal instead'); END""",
    """CREATE TRIGGER posting_entry_open BEFORE INSERT ON posting
       WHEN EXISTS (SELECT 1 FROM entry WHERE id = NEW.entry_id)
       BEGIN SELECT RAISE(ABORT, 'cannot add a posting to an entry already written'); END""",
    """CREATE TRIGGER entry_balanced BEFORE INSERT ON entry
       WHEN (SELECT count(*) FROM posting WHERE entry_id = NEW.id) < 2
         OR EXISTS (SELECT 1 FROM posting WHERE entry_id = NEW.id
                    GROUP BY commodity HAVING sum(amount) <> 0)
       BEGIN SELECT RAISE(ABORT, 'unbalanced entry: its postings must sum to zero per commodity'); END""",
]

PG_GUARDS = [
    """CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'ledger % rows are immutable: post a reversal instead', TG_TABLE_NAME
           USING ERRCODE = 'integrity_constraint_violation';
       END $$""",
    """CREATE TRIGGER entry_no_update_delete BEFORE UPDATE OR DELETE ON entry
       FOR EACH ROW EXECUTE FUNCTION ledger_immutable()""",
    """CREATE TRIGGER posting_no_update_delete BEFORE UPDATE OR DELETE ON posting
       FOR EACH ROW EXECUTE FUNCTION ledger_immutable()""",
    """CREATE FUNCTION ledger_posting_entry_open() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF EXISTS (SELECT 1 FROM entry WHERE id = NEW.entry_id) THEN
           RAISE EXCEPTION 'cannot add a posting to entry % already written', NEW.entry_id
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER posting_entry_open BEFORE INSERT ON posting
       FOR EACH ROW EXECUTE FUNCTION ledger_posting_entry_open()""",
    """CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF (SELECT count(*) FROM posting WHERE entry_id = NEW.id) < 2
            OR EXISTS (SELECT 1 FROM posting WHERE entry_id = NEW.id
                       GROUP BY commodity HAVING sum(amount) <> 0) THEN
           RAISE EXCEPTION 'unbalanced entry %: its postings must sum to zero per commodity', NEW.id
             USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$""",
    # Checked as each entry is written and again at commit: the deferred trigger sees the
    # transaction's final state, whatever order the rows arrived in.
    """CREATE TRIGGER entry_balanced BEFORE INSERT ON entry
       FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()""",
    """CREATE CONSTRAINT TRIGGER entry_balanced_at_commit AFTER INSERT ON entry
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()""",
]


def _create_guards() -> None:
    bind = op.get_bind()
    for sql in PG_GUARDS if bind.dialect.name == "postgresql" else SQLITE_GUARDS:
        op.execute(sql)
    op.execute(
        "INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '%s')" % ("0" * 64)
    )


def _drop_guards() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for trigger, table in [
            ("entry_no_update_delete", "entry"), ("posting_no_update_delete", "posting"),
            ("posting_entry_open", "posting"), ("entry_balanced", "entry"),
            ("entry_balanced_at_commit", "entry"),
        ]:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for fn in ("ledger_immutable", "ledger_posting_entry_open", "ledger_entry_balanced"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    else:
        for trigger in ("entry_no_update", "entry_no_delete", "posting_no_update",
                        "posting_no_delete", "posting_entry_open", "entry_balanced"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
