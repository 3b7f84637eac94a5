-- Retention by expiry partitions: layout, who may reach the partitions and the maintenance, expiry
-- computed per workflow, partitions created ahead, expired partitions and default rows dropped, stats
-- refreshed, reads unchanged across partitions.
begin;
set local search_path = public, extensions;
select plan(32);

-- =============================================================================================
-- Layout and privileges
-- =============================================================================================
select is((select relkind::text from pg_class where oid = 'public.workflow_execution_logs'::regclass), 'p',
          'workflow_execution_logs is partitioned');
select is((select pg_get_partkeydef('public.workflow_execution_logs'::regclass)), 'RANGE (expires_on)',
          'by range of expires_on');
select is_empty($$ select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
                   where i.inhparent = 'public.workflow_execution_logs'::regclass
                     and c.relnamespace <> 'workflow_logs_partitions'::regnamespace $$,
                'every partition lives in workflow_logs_partitions');
select ok(to_regclass('workflow_logs_partitions.workflow_execution_logs_default') is not null,
          'a default partition catches rows of days without a partition');
select is_empty($$ select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
                   where i.inhparent = 'public.workflow_execution_logs'::regclass
                     and pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT' and not c.relrowsecurity $$,
                'every day partition has RLS enabled');
select ok(not has_schema_privilege('anon', 'workflow_logs_partitions', 'usage')
          and not has_schema_privilege('authenticated', 'workflow_logs_partitions', 'usage'),
          'the API roles cannot use the partitions schema');
select ok(not has_function_privilege(r, 'workflow_logs_private.maintain_log_partitions(integer)', 'execute'),
          format('%s cannot run the maintenance', r))
from unnest(array['anon', 'authenticated', 'service_role']) r;
select ok(not has_function_privilege('service_role', 'workflow_logs_private.create_log_partition(date)', 'execute'),
          'service_role cannot create partitions');
select ok((select pubviaroot from pg_publication where pubname = 'supabase_realtime'),
          'Realtime publishes partition changes as changes of the parent');

-- =============================================================================================
-- Partitions ahead
-- =============================================================================================
select is(workflow_logs_private.default_retention_days(), 30, 'the default retention is 30 days');
select is(
  (select count(*)::integer from generate_series(workflow_logs_private.utc_today() + 1,
                                                  workflow_logs_private.utc_today() + 37, interval '1 day') d
   where to_regclass('workflow_logs_partitions.workflow_execution_logs_p' || to_char(d, 'YYYYMMDD')) is null),
  0, 'after migrating, a partition exists for every day from tomorrow to today + 30 + 7');

-- fixtures: a 7-day workflow and a default one
insert into auth.users (id, email) values ('12000000-0000-4000-8000-000000000001', 'pgtap12@example.com');
insert into public.workflows (id, user_id, name, log_retention_days) values
  ('12000000-0000-4000-8000-0000000000a7', '12000000-0000-4000-8000-000000000001', 'short', 7),
  ('12000000-0000-4000-8000-0000000000d0', '12000000-0000-4000-8000-000000000001', 'default', null);
insert into public.workflow_executions (execution_id, workflow_id, status) values
  ('pgtap-12-short', '12000000-0000-4000-8000-0000000000a7', 'RUNNING'),
  ('pgtap-12-default', '12000000-0000-4000-8000-0000000000d0', 'RUNNING');

select throws_ok($$ update public.workflows set log_retention_days = 0 where name = 'short' $$, '23514', null,
                 'a retention under one day is refused');

update public.workflows set log_retention_days = 90 where name = 'default';
select is(workflow_logs_private.maintain_log_partitions(2) ->> 'horizon',
          (workflow_logs_private.utc_today() + 92)::text,
          'a longer retention moves the horizon: today + 90 + days_ahead');
select ok(to_regclass('workflow_logs_partitions.workflow_execution_logs_p'
                      || to_char(workflow_logs_private.utc_today() + 92, 'YYYYMMDD')) is not null,
          'and the partitions up to it exist');
update public.workflows set log_retention_days = null where name = 'default';

-- =============================================================================================
-- Expiry per row
-- =============================================================================================
select is(
  public.append_execution_logs(jsonb_build_array(
    jsonb_build_object('execution_id', 'pgtap-12-short', 'event_type', 'step_output', 'message', 'now'),
    jsonb_build_object('execution_id', 'pgtap-12-default', 'event_type', 'step_output', 'message', 'now'),
    jsonb_build_object('execution_id', 'pgtap-12-short', 'event_type', 'step_output', 'message', 'old',
                       'created_at', (now() - interval '6 days')::text),
    jsonb_build_object('execution_id', 'pgtap-12-short', 'event_type', 'step_output', 'message', 'expiring',
                       'created_at', (now() - interval '7 days')::text)
  )) ->> 'inserted', '4', 'a batch over two workflows is written');
select results_eq(
  $$ select message, expires_on - workflow_logs_private.utc_today() from public.workflow_execution_logs
     where execution_id like 'pgtap-12-%' order by seq $$,
  $$ values ('now', 7), ('now', 30), ('old', 1), ('expiring', 0) $$,
  'expires_on is the created_at day plus the workflow''s retention (7) or the default (30)');
select is((select tableoid::regclass::text from public.workflow_execution_logs where message = 'expiring'),
          'workflow_logs_partitions.workflow_execution_logs_default',
          'a row whose day has no partition (today''s was never made: nothing expires into the past) waits in the default partition');

set local workflow_logs.retention_days = '12';
select is(workflow_logs_private.default_retention_days(), 12, 'the setting workflow_logs.retention_days changes the default');
set local workflow_logs.retention_days = 'forever';
select throws_ok($$ select workflow_logs_private.default_retention_days() $$, '22023',
                 'setting workflow_logs.retention_days must be a number of days from 1 to 3650 (got ''forever'')',
                 'a bad setting is named, not ignored');
reset workflow_logs.retention_days;

select is(
  public.append_execution_logs((select jsonb_agg(jsonb_build_object(
      'id', l.id, 'execution_id', l.execution_id, 'event_type', 'step_output', 'message', l.message,
      'created_at', l.created_at))
    from public.workflow_execution_logs l where l.execution_id = 'pgtap-12-short')) ->> 'duplicates',
  '3', 'a retried batch (same ids and created_at) is recognised across partitions');

-- =============================================================================================
-- Expiry
-- =============================================================================================
-- A partition whose day has come: yesterday's, made by hand with a row in it.
select ok(workflow_logs_private.create_log_partition(workflow_logs_private.utc_today() - 1),
          'create_log_partition makes a partition for a given day');
select ok(not workflow_logs_private.create_log_partition(workflow_logs_private.utc_today() - 1),
          'and says false when it exists');
insert into public.workflow_execution_logs (execution_id, event_type, message, created_at, expires_on)
values ('pgtap-12-default', 'step_output', 'expired yesterday', now() - interval '31 days',
        workflow_logs_private.utc_today() - 1);
select is((select log_count::integer from public.workflow_execution_log_counts
           where execution_id = 'pgtap-12-default' and level = 'INFO'), 2, 'the stats count both rows first');

create temporary table pgtap_12_report as select workflow_logs_private.maintain_log_partitions() as r;
select is((select r -> 'dropped' from pgtap_12_report),
          jsonb_build_array('workflow_execution_logs_p' || to_char(workflow_logs_private.utc_today() - 1, 'YYYYMMDD')),
          'maintenance drops the partition whose day has come, and only it');
select is((select (r ->> 'expired_rows')::integer from pgtap_12_report), 2,
          'the report counts the dropped partition''s row and the expired default row');
select results_eq(
  $$ select message from public.workflow_execution_logs where execution_id like 'pgtap-12-%' order by seq $$,
  $$ values ('now'), ('now'), ('old') $$,
  'the expired rows are gone (the one expiring today and the one of yesterday''s partition); the rest stay');
select is((select log_count::integer from public.workflow_execution_log_counts
           where execution_id = 'pgtap-12-default' and level = 'INFO'), 1, 'the stats of the executions touched are refreshed');
select is((select count(*)::integer from workflow_logs_partitions.workflow_execution_logs_default), 0,
          'the default partition is empty again');

-- A row that lands beyond the horizon moves into its partition when the partition is made.
insert into public.workflow_execution_logs (execution_id, event_type, message, expires_on)
values ('pgtap-12-default', 'step_output', 'far future', workflow_logs_private.utc_today() + 400);
select ok(workflow_logs_private.create_log_partition(workflow_logs_private.utc_today() + 400),
          'a partition far ahead can be made while the default partition holds a row of its day');
select is((select tableoid::regclass::text from public.workflow_execution_logs where message = 'far future'),
          'workflow_logs_partitions.workflow_execution_logs_p' || to_char(workflow_logs_private.utc_today() + 400, 'YYYYMMDD'),
          'and the waiting row moved into it');

select * from finish();
rollback;
