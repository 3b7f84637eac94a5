-- Retention without bulk deletes: workflow_execution_logs becomes a table partitioned by the day its
-- rows expire.
--
-- Why by expiry, not by creation time: retention is per workflow (workflows.log_retention_days, else
-- the setting workflow_logs.retention_days, else 30 days). A row's `expires_on` is the UTC day of its
-- created_at plus its workflow's retention, fixed when it is written, so every row of a partition
-- expires on the same day and expiry is `drop table` of whole partitions, for every retention at once:
-- no DELETE, no bloat, no vacuum debt. (Partitions by creation day would need deletes inside them for
-- every workflow whose retention is shorter than the longest.) A changed retention applies to logs
-- written after the change.
--
-- Layout:
-- * partitions live in the schema workflow_logs_partitions, which the API roles cannot use (PostgREST
--   never exposes a partition, and a partition's grants or RLS never matter: reads and writes go through
--   the parent, whose privileges and policies apply);
-- * one partition per expiry day, `workflow_execution_logs_pYYYYMMDD`, created ahead by
--   workflow_logs_private.maintain_log_partitions() (pg_cron runs it hourly where the extension exists;
--   elsewhere `workflow-logs purge` runs it), which also drops the expired ones;
-- * a default partition catches a row whose day has no partition yet (maintenance not run, or a
--   workflow's retention raised past the horizon): nothing is ever refused for want of a partition,
--   and maintenance moves such rows into their partition once it exists.
--
-- Converting an existing table: it is attached as the partition of one expiry day (today + the default
-- retention), with `expires_on` added as a constant default (no rewrite); three of its indexes become
-- the partition's indexes. The work proportional to its size is building the new primary key
-- (id, expires_on) and the two indexes that now carry expires_on, and checking its rows against the
-- partition bound: seconds per million rows, under a lock that blocks writers. Existing logs are kept
-- for one full retention period after the upgrade.
--
-- Idempotency: a unique index on a partitioned table must contain the partition key, so the key is
-- (id, expires_on) and a retried entry is recognised when it carries the same created_at (the SDK
-- always sends it; an entry without created_at that is retried across UTC midnight can be stored
-- twice).

-- =============================================================================================
-- Retention settings
-- =============================================================================================
create schema if not exists workflow_logs_partitions;
comment on schema workflow_logs_partitions is 'Partitions of public.workflow_execution_logs (one per expiry day, plus a default). Not for the API roles: read and write through the parent.';
revoke all on schema workflow_logs_partitions from public;

alter table public.workflows add column if not exists log_retention_days integer;
do $$
begin
  alter table public.workflows add constraint workflows_log_retention_days_check
    check (log_retention_days between 1 and 3650);
exception
  when duplicate_object then null;
end
$$;
comment on column public.workflows.log_retention_days is 'Days the logs of this workflow''s executions are kept (1 to 3650); null means the deployment default (setting workflow_logs.retention_days, else 30). Applies to logs written after a change.';

create or replace function workflow_logs_private.default_retention_days()
returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  v_setting text := nullif(current_setting('workflow_logs.retention_days', true), '');
begin
  if v_setting is null then
    return 30;
  end if;
  if v_setting !~ '^\s*[0-9]{1,4}\s*$' or v_setting::integer not between 1 and 3650 then
    raise exception using
      errcode = '22023',
      message = format('setting workflow_logs.retention_days must be a number of days from 1 to 3650 (got %L)', v_setting);
  end if;
  return v_setting::integer;
end;
$$;

comment on function workflow_logs_private.default_retention_days() is 'Days logs are kept when their workflow sets no log_retention_days: the setting workflow_logs.retention_days, else 30.';

-- The UTC day "today" for expiry: the same for every session whatever its TimeZone.
create or replace function workflow_logs_private.utc_today()
returns date
language sql
stable
set search_path = ''
as $$
  select (now() at time zone 'UTC')::date
$$;

-- =============================================================================================
-- Conversion: the existing table becomes a partition of a new partitioned parent
-- =============================================================================================
-- What hangs on the old table and must move to the parent, captured before the rename while its
-- definitions still name public.workflow_execution_logs: triggers, policies, and the functions whose
-- signature uses the table's row type (log_entry, filtered_logs), with their comments and grants.
create temporary table wl_moved_definitions on commit drop as
select 'trigger' as kind, t.tgname::text as name, pg_get_triggerdef(t.oid) as ddl, null::oid as old_oid,
       null::oid as namespace
from pg_trigger t
where t.tgrelid = 'public.workflow_execution_logs'::regclass and not t.tgisinternal
union all
select 'policy', p.policyname::text,
       format('create policy %I on public.workflow_execution_logs as %s for %s to %s%s%s',
              p.policyname, p.permissive, p.cmd,
              (select string_agg(quote_ident(r), ', ') from unnest(p.roles) r),
              case when p.qual is not null then format(' using (%s)', p.qual) else '' end,
              case when p.with_check is not null then format(' with check (%s)', p.with_check) else '' end),
       null, null
from pg_policies p
where p.schemaname = 'public' and p.tablename = 'workflow_execution_logs'
union all
select 'function', f.proname::text, pg_get_functiondef(f.oid), f.oid, f.pronamespace
from pg_proc f
where f.prorettype = 'public.workflow_execution_logs'::regtype
   or 'public.workflow_execution_logs'::regtype = any (f.proargtypes::oid[]);

do $$
declare
  d record;
  v_day date := workflow_logs_private.utc_today() + workflow_logs_private.default_retention_days();
  v_partition text := 'workflow_execution_logs_p' || to_char(v_day, 'YYYYMMDD');
  v_last_seq bigint;
  v_fn regprocedure;
  v_comment text;
  v_grantees text[];
  v_grantee text;
begin
  if (select relkind from pg_class where oid = 'public.workflow_execution_logs'::regclass) = 'p' then
    return;  -- already partitioned
  end if;

  if exists (select 1 from pg_publication_tables
             where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'workflow_execution_logs') then
    alter publication supabase_realtime drop table public.workflow_execution_logs;
  end if;
  for d in select * from wl_moved_definitions where kind = 'trigger' loop
    execute format('drop trigger %I on public.workflow_execution_logs', d.name);
  end loop;
  for d in select * from wl_moved_definitions where kind = 'policy' loop
    execute format('drop policy %I on public.workflow_execution_logs', d.name);
  end loop;

  -- The old table: out of public, no identity (the parent numbers rows from now on), no primary key
  -- on id alone (the parent's key is (id, expires_on)), and the expiry column as a constant default.
  select max(seq) into v_last_seq from public.workflow_execution_logs;
  alter table public.workflow_execution_logs alter column seq drop identity;
  alter table public.workflow_execution_logs drop constraint workflow_execution_logs_pkey;
  execute format('alter table public.workflow_execution_logs add column expires_on date not null default %L', v_day);
  alter table public.workflow_execution_logs alter column expires_on drop default;
  execute format('alter table public.workflow_execution_logs rename to %I', v_partition);
  execute format('alter table public.%I set schema workflow_logs_partitions', v_partition);

  -- The parent: the same columns, defaults and checks.
  execute format(
    'create table public.workflow_execution_logs (like workflow_logs_partitions.%I including defaults'
    ' including constraints including generated including storage including comments)'
    ' partition by range (expires_on)', v_partition);
  alter table public.workflow_execution_logs
    alter column expires_on set default (workflow_logs_private.utc_today() + workflow_logs_private.default_retention_days()),
    alter column seq add generated always as identity,
    add constraint workflow_execution_logs_pkey primary key (id, expires_on);
  if v_last_seq is not null then
    perform setval(pg_get_serial_sequence('public.workflow_execution_logs', 'seq'), v_last_seq);
  end if;

  -- The same indexes as before (20251125000100); the old table's equal indexes are attached to these
  -- instead of being built again. Two of them also carry expires_on: every read of an execution is
  -- bounded by its partitions' days (below), and without the column in the index that bound would need
  -- the heap, turning the offset skip and the counts of a time window from index-only scans into heap
  -- walks (measured: an offset of 27,000 took 120 ms instead of 4). The old table's versions of these
  -- two are dropped and built again with the column when it is attached.
  drop index workflow_logs_partitions.workflow_execution_logs_execution_id_seq_idx;
  drop index workflow_logs_partitions.workflow_execution_logs_execution_id_created_at_idx;
  create index workflow_execution_logs_execution_id_seq_idx
    on public.workflow_execution_logs (execution_id, seq) include (expires_on);
  create index workflow_execution_logs_execution_id_level_seq_idx
    on public.workflow_execution_logs (execution_id, level, seq);
  create index workflow_execution_logs_execution_id_log_category_seq_idx
    on public.workflow_execution_logs (execution_id, log_category, seq);
  create index workflow_execution_logs_milestones_idx
    on public.workflow_execution_logs (execution_id, seq) where is_milestone;
  create index workflow_execution_logs_execution_id_created_at_idx
    on public.workflow_execution_logs (execution_id, created_at) include (expires_on);

  execute format(
    'alter table public.workflow_execution_logs attach partition workflow_logs_partitions.%I'
    ' for values from (%L) to (%L)', v_partition, v_day, v_day + 1);
  create table workflow_logs_partitions.workflow_execution_logs_default
    partition of public.workflow_execution_logs default;

  -- Privileges and RLS as 20251125000300 set them on the old table.
  revoke all on table public.workflow_execution_logs from public, anon, authenticated, service_role;
  grant select on table public.workflow_execution_logs to authenticated, service_role;
  grant insert, update, delete on table public.workflow_execution_logs to service_role;
  revoke all on sequence public.workflow_execution_logs_seq_seq from public, anon, authenticated;
  alter table public.workflow_execution_logs enable row level security;

  for d in select * from wl_moved_definitions where kind in ('trigger', 'policy') loop
    execute d.ddl;
  end loop;

  -- Functions over the row type: dropped (their comment and grants kept), then the same definition
  -- again, now over the parent's row type.
  for d in select * from wl_moved_definitions where kind = 'function' loop
    v_comment := obj_description(d.old_oid, 'pg_proc');
    select coalesce(array_agg(a.grantee::regrole::text), '{}') into v_grantees
    from pg_proc p, aclexplode(p.proacl) a
    where p.oid = d.old_oid and a.privilege_type = 'EXECUTE' and a.grantee <> 0 and a.grantee <> p.proowner;
    execute format('drop function %s', d.old_oid::regprocedure);
    execute d.ddl;
    select p.oid::regprocedure into strict v_fn
    from pg_proc p
    where p.proname = d.name and p.pronamespace = d.namespace
      and (p.prorettype = 'public.workflow_execution_logs'::regtype
           or 'public.workflow_execution_logs'::regtype = any (p.proargtypes::oid[]));
    execute format('comment on function %s is %L', v_fn, v_comment);
    execute format('revoke all on function %s from public', v_fn);
    foreach v_grantee in array v_grantees loop
      execute format('grant execute on function %s to %s', v_fn, v_grantee);
    end loop;
  end loop;
end
$$;

comment on table public.workflow_execution_logs is 'Business (user-facing progress) and technical (debugging) log entries of workflow executions, partitioned by expires_on (one partition per day in schema workflow_logs_partitions). Append through append_execution_logs(); read through get_execution_logs() and friends.';
comment on column public.workflow_execution_logs.expires_on is 'The UTC day this row is gone: the day of created_at plus its workflow''s retention. The partition key; whole partitions are dropped when their day comes.';

-- supabase-js postgres_changes: changes of the partitions are published as changes of the parent.
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    alter publication supabase_realtime set (publish_via_partition_root = true);
    if not exists (select 1 from pg_publication_tables
                   where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'workflow_execution_logs') then
      alter publication supabase_realtime add table public.workflow_execution_logs;
    end if;
  end if;
end
$$;

-- =============================================================================================
-- Writes: append_execution_logs computes each row's expiry
-- =============================================================================================
create or replace function workflow_logs_private.insert_log_entries(logs jsonb)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_default integer := workflow_logs_private.default_retention_days();
  v_days jsonb;
begin
  -- The retention of each execution of the batch (a few): a map looked up per row, so the insert
  -- reads the array straight through and seq follows array order (a join could reorder the rows).
  select jsonb_object_agg(we.execution_id, coalesce(w.log_retention_days, v_default)) into v_days
  from public.workflow_executions we
  join public.workflows w on w.id = we.workflow_id
  where we.execution_id in (select distinct e ->> 'execution_id' from jsonb_array_elements(logs) e);

  return query
  insert into public.workflow_execution_logs as l (
    id, execution_id, log_category, event_type, level, message, data, node_id, node_name, node_type,
    step_number, total_steps, progress_percentage, duration_seconds, user_friendly_message,
    display_priority, is_milestone, technical_details, stack_trace, performance_metrics, created_at,
    expires_on)
  select coalesce(r.id, gen_random_uuid()),
         r.execution_id,
         coalesce(lower(r.log_category), 'technical'),
         lower(r.event_type)::public.log_event_type_enum,
         coalesce(upper(r.level), 'INFO')::public.log_level_enum,
         r.message,
         coalesce(r.data, '{}'::jsonb),
         r.node_id, r.node_name, r.node_type,
         r.step_number, r.total_steps, r.progress_percentage, r.duration_seconds,
         r.user_friendly_message,
         coalesce(r.display_priority, 5),
         coalesce(r.is_milestone, false),
         coalesce(r.technical_details, '{}'::jsonb),
         r.stack_trace,
         coalesce(r.performance_metrics, '{}'::jsonb),
         coalesce(r.created_at, now()),
         (coalesce(r.created_at, now()) at time zone 'UTC')::date
           + coalesce((v_days ->> r.execution_id)::integer, v_default)
  from jsonb_to_recordset(logs) as r(
    id uuid, execution_id text, log_category text, event_type text, level text, message text, data jsonb,
    node_id text, node_name text, node_type text, step_number integer, total_steps integer,
    progress_percentage numeric, duration_seconds integer, user_friendly_message text,
    display_priority integer, is_milestone boolean, technical_details jsonb, stack_trace text,
    performance_metrics jsonb, created_at timestamptz)
  on conflict (id, expires_on) do nothing
  returning l.seq;
end;
$$;

-- =============================================================================================
-- Reads touch only an execution's own partitions
-- =============================================================================================
-- An execution's logs sit in one or two partitions (their expiry days), but `execution_id = $1` says
-- nothing about expires_on, so every read would probe every partition's index (~60 µs each, dozens
-- of partitions). workflow_execution_log_expiry keeps, per execution, the range of expiry days its rows
-- were written with; the readers add `expires_on between first and last` and Postgres skips the other
-- partitions when the query runs (run-time pruning). The range only ever widens: rows deleted or
-- expired leave it a superset, which prunes less but is never wrong.
create table if not exists public.workflow_execution_log_expiry (
  execution_id varchar(255) primary key,
  first_expires_on date not null,
  last_expires_on date not null
);

comment on table public.workflow_execution_log_expiry is 'Per execution, the earliest and latest expires_on of its logs (a superset after deletes): the partitions its reads need. Maintained by a trigger on workflow_execution_logs.';

insert into public.workflow_execution_log_expiry (execution_id, first_expires_on, last_expires_on)
select l.execution_id, min(l.expires_on), max(l.expires_on)
from public.workflow_execution_logs l
group by 1
on conflict (execution_id) do nothing;

create or replace function workflow_logs_private.widen_log_expiry()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Only executions whose range must grow are written: in the steady state (a run's logs expire on
  -- the day its range already holds) nothing is locked, so concurrent writers never wait here.
  insert into public.workflow_execution_log_expiry as x (execution_id, first_expires_on, last_expires_on)
  select g.execution_id, g.first_day, g.last_day
  from (select r.execution_id, min(r.expires_on) as first_day, max(r.expires_on) as last_day
        from new_rows r
        group by 1) g
  where not exists (
    select 1 from public.workflow_execution_log_expiry e
    where e.execution_id = g.execution_id and e.first_expires_on <= g.first_day and e.last_expires_on >= g.last_day)
  order by 1  -- a fixed lock order across concurrent batches
  on conflict (execution_id) do update
    set first_expires_on = least(x.first_expires_on, excluded.first_expires_on),
        last_expires_on = greatest(x.last_expires_on, excluded.last_expires_on);
  return null;
end;
$$;

comment on function workflow_logs_private.widen_log_expiry() is 'Statement-level AFTER INSERT / UPDATE trigger: widens each written execution''s expiry range.';

drop trigger if exists workflow_execution_logs_expiry_insert on public.workflow_execution_logs;
create trigger workflow_execution_logs_expiry_insert
  after insert on public.workflow_execution_logs
  referencing new table as new_rows
  for each statement execute function workflow_logs_private.widen_log_expiry();
drop trigger if exists workflow_execution_logs_expiry_update on public.workflow_execution_logs;
create trigger workflow_execution_logs_expiry_update
  after update on public.workflow_execution_logs
  referencing new table as new_rows
  for each statement execute function workflow_logs_private.widen_log_expiry();

revoke all on table public.workflow_execution_log_expiry from public, anon, authenticated, service_role;
grant select on table public.workflow_execution_log_expiry to authenticated, service_role;
alter table public.workflow_execution_log_expiry enable row level security;
drop policy if exists "Owners can read the expiry range of their executions" on public.workflow_execution_log_expiry;
create policy "Owners can read the expiry range of their executions"
  on public.workflow_execution_log_expiry for select
  to authenticated
  using (
    exists (
      select 1
      from public.workflow_executions we
      join public.workflows w on w.id = we.workflow_id
      where we.execution_id = workflow_execution_log_expiry.execution_id
        and w.user_id = (select auth.uid())
    )
  );

-- The bounds, as functions the planner cannot inline, declared immutable although they read a table.
-- Why: in a custom plan (execution_logs_page plans every call) the planner evaluates an immutable call
-- of a known execution id while planning, so the other partitions are pruned before they are planned at
-- all: planning a page over ~40 partitions of 7 indexes each cost ~4 ms, a page ~0.3 ms. In a cached
-- generic plan (the id a parameter) the call runs when the query starts and prunes there. The lie is
-- safe because no plan here is cached with a literal execution id (the readers pass the id as a
-- parameter, and a custom plan is used once); an inlined subquery instead became an initplan whose
-- unknown value made the planner pick seq scans and a sort over index order.
create or replace function workflow_logs_private.first_log_expiry(execution_id text)
returns date
language sql
immutable
set search_path = ''
as $$
  select x.first_expires_on from public.workflow_execution_log_expiry x where x.execution_id = $1
$$;

create or replace function workflow_logs_private.last_log_expiry(execution_id text)
returns date
language sql
immutable
set search_path = ''
as $$
  select x.last_expires_on from public.workflow_execution_log_expiry x where x.execution_id = $1
$$;

comment on function workflow_logs_private.first_log_expiry(text) is 'The earliest expires_on of the execution''s logs (null without logs): the lower partition bound of its reads.';
comment on function workflow_logs_private.last_log_expiry(text) is 'The latest expires_on of the execution''s logs (null without logs): the upper partition bound of its reads.';

-- The readers of 20251125000400 and 20251125000600, restated with the expiry bound (their bodies are
-- otherwise unchanged).
create or replace function workflow_logs_private.filtered_logs(
  execution_id text,
  after bigint default null,
  level public.log_level_enum default null,
  category text default null,
  event_type public.log_event_type_enum default null,
  node_id text default null,
  milestones_only boolean default false,
  min_priority integer default null,
  start_time timestamptz default null,
  end_time timestamptz default null
)
returns setof public.workflow_execution_logs
language sql
stable
as $$
  select l.*
  from public.workflow_execution_logs l
  where l.execution_id = $1
    and l.expires_on >= workflow_logs_private.first_log_expiry($1)
    and l.expires_on <= workflow_logs_private.last_log_expiry($1)
    and ($2 is null or l.seq > $2)
    and ($3 is null or l.level = $3)
    and ($4 is null or l.log_category = $4)
    and ($5 is null or l.event_type = $5)
    and ($6 is null or l.node_id = $6)
    and (not $7 or l.is_milestone)
    and ($8 is null or l.display_priority >= $8)
    and ($9 is null or l.created_at >= $9)
    and ($10 is null or l.created_at <= $10)
$$;

create or replace function workflow_logs_private.execution_events_after(
  execution_id text,
  after bigint,
  lim integer,
  out logs json,
  out next_cursor bigint,
  out has_more boolean,
  out total_count bigint,
  out last_seq bigint
)
language plpgsql
stable
security definer
set search_path = ''
set jit = off
-- planned per call: the known execution id prunes the other partitions while planning (a cached
-- generic plan must lock every partition and its indexes on every call, which cost more)
set plan_cache_mode = force_custom_plan
as $$
declare
  v_last bigint;
begin
  perform workflow_logs_private.assert_may_read(execution_events_after.execution_id);
  select coalesce(json_agg(workflow_logs_private.log_entry(p.r) order by (p.r).seq)
                    filter (where p.n <= lim), '[]'::json),
         max((p.r).seq) filter (where p.n <= lim),
         count(*) > lim
    into logs, v_last, has_more
  from (
    select x.r, row_number() over (order by (x.r).seq) as n
    from (
      select l as r
      from public.workflow_execution_logs l
      where l.execution_id = execution_events_after.execution_id
        and l.expires_on >= workflow_logs_private.first_log_expiry(execution_events_after.execution_id)
        and l.expires_on <= workflow_logs_private.last_log_expiry(execution_events_after.execution_id)
        and l.seq > execution_events_after.after
      order by l.seq
      limit lim + 1
    ) x
  ) p;
  next_cursor := coalesce(v_last, after);
  select coalesce(sum(c.log_count), 0), max(c.last_seq) into total_count, last_seq
  from public.workflow_execution_log_counts c
  where c.execution_id = execution_events_after.execution_id;
end;
$$;

-- The live readers' batch (many executions per call): the union of their ranges bounds the scan, folded
-- while planning like the per-execution bounds (live executions are recent: one or two partitions).
-- plpgsql with custom plans for that; as a `language sql` function it was planned over every partition
-- on every call (4.7 ms for ten executions against 1.2 ms).
create or replace function workflow_logs_private.first_log_expiry_of(execution_ids text[])
returns date
language sql
immutable
set search_path = ''
as $$
  select min(x.first_expires_on) from public.workflow_execution_log_expiry x where x.execution_id = any ($1)
$$;

create or replace function workflow_logs_private.last_log_expiry_of(execution_ids text[])
returns date
language sql
immutable
set search_path = ''
as $$
  select max(x.last_expires_on) from public.workflow_execution_log_expiry x where x.execution_id = any ($1)
$$;

comment on function workflow_logs_private.first_log_expiry_of(text[]) is 'The earliest expires_on of the logs of any of the executions: the lower partition bound of a batch read.';
comment on function workflow_logs_private.last_log_expiry_of(text[]) is 'The latest expires_on of the logs of any of the executions: the upper partition bound of a batch read.';

create or replace function workflow_logs_private.events_after_many(execution_ids text[], afters bigint[], lim integer)
returns table (execution_id text, logs json, next_cursor bigint, has_more boolean)
language plpgsql
stable
security definer
set search_path = ''
set jit = off
set plan_cache_mode = force_custom_plan
as $$
begin
  return query
  select x.id,
         coalesce(json_agg(workflow_logs_private.log_entry(p.r) order by (p.r).seq)
                    filter (where p.n <= lim), '[]'::json),
         coalesce(max((p.r).seq) filter (where p.n <= lim), x.after),
         count(p.r) > lim
  from unnest(execution_ids, afters) as x(id, after)
  left join lateral (
    select y.r, row_number() over (order by (y.r).seq) as n
    from (
      select l as r
      from public.workflow_execution_logs l
      where l.execution_id = x.id and l.seq > x.after
        and l.expires_on >= workflow_logs_private.first_log_expiry_of(execution_ids)
        and l.expires_on <= workflow_logs_private.last_log_expiry_of(execution_ids)
      order by l.seq
      limit lim + 1
    ) y
  ) p on true
  where workflow_logs_private.caller_bypasses_rls()
     or exists (
       select 1
       from public.workflow_executions we
       join public.workflows w on w.id = we.workflow_id
       where we.execution_id = x.id and w.user_id = (select auth.uid())
     )
  group by x.id, x.after;
end;
$$;

-- =============================================================================================
-- Partition maintenance
-- =============================================================================================
-- The partition for rows expiring on `day`; true when it was created now. Rows of that day that
-- wait in the default partition move into it.
create or replace function workflow_logs_private.create_log_partition(day date)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_name text := 'workflow_execution_logs_p' || to_char(day, 'YYYYMMDD');
  v_columns text;
begin
  if to_regclass(format('workflow_logs_partitions.%I', v_name)) is not null then
    return false;
  end if;
  if not exists (select 1 from workflow_logs_partitions.workflow_execution_logs_default where expires_on = day) then
    execute format('create table workflow_logs_partitions.%I partition of public.workflow_execution_logs'
                   ' for values from (%L) to (%L)', v_name, day, day + 1);
  else
    -- Attaching a range that the default partition holds rows of fails, so build the table beside
    -- it, move the rows, then attach (the check constraint spares attach a scan of the new table).
    -- The rows only change partition: the stats triggers (on the parent) rightly do not fire.
    execute format('create table workflow_logs_partitions.%I (like public.workflow_execution_logs'
                   ' including defaults including constraints including generated including storage)', v_name);
    execute format('alter table workflow_logs_partitions.%I add constraint %I check (expires_on >= %L and expires_on < %L)',
                   v_name, v_name || '_bound_check', day, day + 1);
    -- (generated columns are computed again on insert, so only the stored ones are named)
    select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_columns
    from pg_attribute a
    where a.attrelid = 'public.workflow_execution_logs'::regclass and a.attnum > 0 and not a.attisdropped
      and a.attgenerated = '';
    execute format('with moved as (delete from workflow_logs_partitions.workflow_execution_logs_default'
                   ' where expires_on = %L returning %s) insert into workflow_logs_partitions.%I (%s) select %s from moved',
                   day, v_columns, v_name, v_columns, v_columns);
    execute format('alter table public.workflow_execution_logs attach partition workflow_logs_partitions.%I'
                   ' for values from (%L) to (%L)', v_name, day, day + 1);
    execute format('alter table workflow_logs_partitions.%I drop constraint %I', v_name, v_name || '_bound_check');
  end if;
  execute format('alter table workflow_logs_partitions.%I enable row level security', v_name);
  return true;
end;
$$;

comment on function workflow_logs_private.create_log_partition(date) is 'Creates the partition of logs expiring on the given day (moving any such rows out of the default partition); false when it exists.';

-- Creates partitions ahead, drops the expired ones and empties expired rows out of the default
-- partition; refreshes the per-execution stats of the executions whose logs went. Returns a report.
create or replace function workflow_logs_private.maintain_log_partitions(days_ahead integer default 7)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_today date := workflow_logs_private.utc_today();
  v_longest integer;
  v_day date;
  v_created text[] := '{}';
  v_dropped text[] := '{}';
  v_executions text[] := '{}';
  v_ids text[];
  v_rows bigint := 0;
  v_count bigint;
  p record;
begin
  if days_ahead is null or days_ahead not between 0 and 366 then
    raise exception using errcode = '22023', message = format('days_ahead must be between 0 and 366 (got %s)', days_ahead);
  end if;
  -- one maintenance at a time
  perform pg_advisory_xact_lock(hashtextextended('workflow_logs:maintain_log_partitions', 0));

  select greatest(workflow_logs_private.default_retention_days(), coalesce(max(w.log_retention_days), 0))
    into v_longest
  from public.workflows w;

  -- Expired: every partition whose day has come.
  for p in
    select c.oid::regclass as part, c.relname::text as name,
           substring(pg_get_expr(c.relpartbound, c.oid) from 'TO \(''([0-9-]+)''\)')::date as upper_bound
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'public.workflow_execution_logs'::regclass
      and pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
    order by 3
  loop
    exit when p.upper_bound > v_today + 1;
    -- The executions with logs in it, from their expiry ranges rather than a scan of the partition
    -- (a superset: ranges only widen); the count is an index-only scan on a vacuumed partition.
    select array_agg(x.execution_id) into v_ids
    from public.workflow_execution_log_expiry x
    where x.first_expires_on <= p.upper_bound - 1 and x.last_expires_on >= p.upper_bound - 1;
    execute format('select count(*) from %s', p.part) into v_count;
    v_executions := v_executions || coalesce(v_ids, '{}');
    v_rows := v_rows + v_count;
    execute format('drop table %s', p.part);
    v_dropped := v_dropped || p.name;
  end loop;

  -- Expired rows that waited in the default partition (a day with no partition).
  with gone as (
    delete from workflow_logs_partitions.workflow_execution_logs_default d
    where d.expires_on <= v_today
    returning d.execution_id
  )
  select coalesce(array_agg(distinct execution_id), '{}'), count(*) into v_ids, v_count from gone;
  v_executions := v_executions || v_ids;
  v_rows := v_rows + v_count;

  -- Ahead: every day a row written now can expire on, plus days_ahead.
  for v_day in select generate_series(v_today + 1, v_today + v_longest + days_ahead, interval '1 day')::date loop
    if workflow_logs_private.create_log_partition(v_day) then
      v_created := v_created || ('workflow_execution_logs_p' || to_char(v_day, 'YYYYMMDD'));
    end if;
  end loop;

  -- Executions whose every log has expired (their range ends by today): their stats rows simply go.
  -- Only those with logs left elsewhere are recomputed, which reads their remaining logs (rare: a run's
  -- logs expire together unless it spanned midnight or its retention changed mid-run).
  delete from public.workflow_execution_log_counts c
  using public.workflow_execution_log_expiry x
  where x.execution_id = c.execution_id and x.last_expires_on <= v_today;
  delete from public.workflow_execution_nodes n
  using public.workflow_execution_log_expiry x
  where x.execution_id = n.execution_id and x.last_expires_on <= v_today;
  select array_agg(distinct e) into v_ids
  from unnest(v_executions) e
  where not exists (select 1 from public.workflow_execution_log_expiry x
                    where x.execution_id = e and x.last_expires_on <= v_today);
  if cardinality(v_ids) > 0 then
    perform workflow_logs_private.refresh_execution_stats(v_ids);
  end if;
  delete from public.workflow_execution_log_expiry x where x.last_expires_on <= v_today;

  return jsonb_build_object(
    'created', to_jsonb(v_created),
    'dropped', to_jsonb(v_dropped),
    'expired_rows', v_rows,
    'executions_touched', (select count(distinct e) from unnest(v_executions) e),
    'horizon', v_today + v_longest + days_ahead
  );
end;
$$;

comment on function workflow_logs_private.maintain_log_partitions(integer) is 'Creates log partitions up to today + the longest retention + days_ahead, drops the partitions whose expiry day has come and the expired rows of the default partition, refreshes the stats of the executions affected. Run by pg_cron hourly or by `workflow-logs purge`. Returns {created, dropped, expired_rows, executions_touched, horizon}.';

-- =============================================================================================
-- Privileges: maintenance is for the database owner (pg_cron, the CLI); service_role evaluates the
-- expiry default when it inserts directly.
-- =============================================================================================
revoke all on function workflow_logs_private.widen_log_expiry() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.first_log_expiry(text) from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.last_log_expiry(text) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.first_log_expiry(text) to authenticated, service_role;
grant execute on function workflow_logs_private.last_log_expiry(text) to authenticated, service_role;
revoke all on function workflow_logs_private.first_log_expiry_of(text[]) from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.last_log_expiry_of(text[]) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.first_log_expiry_of(text[]) to authenticated, service_role;
grant execute on function workflow_logs_private.last_log_expiry_of(text[]) to authenticated, service_role;
revoke all on function workflow_logs_private.default_retention_days() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.utc_today() from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.insert_log_entries(jsonb) from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.create_log_partition(date) from public, anon, authenticated, service_role;
revoke all on function workflow_logs_private.maintain_log_partitions(integer) from public, anon, authenticated, service_role;
grant execute on function workflow_logs_private.default_retention_days() to service_role;
grant execute on function workflow_logs_private.utc_today() to service_role;
grant execute on function workflow_logs_private.insert_log_entries(jsonb) to service_role;

-- The partitions for today's writes, now (and the default retention's horizon).
select workflow_logs_private.maintain_log_partitions();

-- =============================================================================================
-- pg_cron (Supabase has it; enable the extension to get the schedule)
-- =============================================================================================
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform cron.schedule('workflow-logs-maintain-partitions', '7 * * * *',
                          'select workflow_logs_private.maintain_log_partitions()');
  end if;
end
$$;
