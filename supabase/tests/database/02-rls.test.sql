-- Row Level Security: for every table, what the owner, another user, anon and service_role see,
-- and that only service_role writes logs. Each role is switched to the way PostgREST does it.
begin;
set local search_path = public, extensions;
select plan(45);

-- =============================================================================================
-- Fixtures (as postgres): owner with one workflow/execution/3 logs, another user with the same
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000002-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-02@example.com'),
  ('00000002-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-02@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000002-0000-4000-8000-0000000000a1', '00000002-0000-4000-8000-000000000001', 'owner workflow'),
  ('00000002-0000-4000-8000-0000000000a2', '00000002-0000-4000-8000-000000000002', 'other workflow');
insert into public.workflow_executions (execution_id, workflow_id, status) values
  ('pgtap-02-exec-owner', '00000002-0000-4000-8000-0000000000a1', 'RUNNING'),
  ('pgtap-02-exec-other', '00000002-0000-4000-8000-0000000000a2', 'RUNNING');
insert into public.workflow_execution_logs (id, execution_id, event_type, level, message, node_id) values
  ('00000002-0000-4000-8000-00000000f001', 'pgtap-02-exec-owner', 'step_started', 'INFO', 'owner 1', 'n1'),
  ('00000002-0000-4000-8000-00000000f002', 'pgtap-02-exec-owner', 'step_completed', 'INFO', 'owner 2', 'n1'),
  ('00000002-0000-4000-8000-00000000f003', 'pgtap-02-exec-owner', 'workflow_completed', 'ERROR', 'owner 3', null),
  ('00000002-0000-4000-8000-00000000f004', 'pgtap-02-exec-other', 'step_started', 'INFO', 'other 1', 'n9'),
  ('00000002-0000-4000-8000-00000000f005', 'pgtap-02-exec-other', 'step_error', 'ERROR', 'other 2', 'n9');

select policies_are('public', 'workflow_execution_logs',
  array['Owners can read their execution logs', 'Service can read execution logs',
        'Service can insert execution logs', 'Service can update execution logs',
        'Service can delete execution logs'],
  'workflow_execution_logs has one policy per operation');
select is_empty(
  $$ select tablename, policyname from pg_policies
     where schemaname = 'public' and (cmd = 'ALL' or 'public' = any (roles)) $$,
  'no policy in public is `for all` or granted to public');

-- =============================================================================================
-- Owner (authenticated, sub = owner)
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000002-0000-4000-8000-000000000001","role":"authenticated"}', true);

select results_eq(
  $$ select id from public.workflows where id in ('00000002-0000-4000-8000-0000000000a1', '00000002-0000-4000-8000-0000000000a2') $$,
  $$ values ('00000002-0000-4000-8000-0000000000a1'::uuid) $$,
  'owner: sees their workflow and not the other one');
select results_eq(
  $$ select execution_id::text from public.workflow_executions where execution_id like 'pgtap-02-%' $$,
  $$ values ('pgtap-02-exec-owner') $$,
  'owner: sees their execution and not the other one');
select results_eq(
  $$ select message from public.workflow_execution_logs where execution_id like 'pgtap-02-%' order by seq $$,
  $$ values ('owner 1'), ('owner 2'), ('owner 3') $$,
  'owner: sees exactly their 3 logs');
select results_eq(
  $$ select execution_id::text, sum(log_count)::int from public.workflow_execution_log_counts
     where execution_id like 'pgtap-02-%' group by 1 $$,
  $$ values ('pgtap-02-exec-owner', 3) $$,
  'owner: sees the log counts of their execution only');
select results_eq(
  $$ select execution_id::text, node_id::text from public.workflow_execution_nodes where execution_id like 'pgtap-02-%' $$,
  $$ values ('pgtap-02-exec-owner', 'n1') $$,
  'owner: sees the nodes of their execution only');

-- Writes are denied even on their own rows (privileges), whatever RLS would say.
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message)
     values ('pgtap-02-exec-owner', 'separator', 'forged') $$,
  '42501', null, 'owner: cannot insert logs into their own execution');
select throws_ok(
  $$ update public.workflow_execution_logs set message = 'changed' where execution_id = 'pgtap-02-exec-owner' $$,
  '42501', null, 'owner: cannot update their logs');
select throws_ok(
  $$ delete from public.workflow_execution_logs where execution_id = 'pgtap-02-exec-owner' $$,
  '42501', null, 'owner: cannot delete their logs');
select throws_ok(
  $$ insert into public.workflow_executions (execution_id, workflow_id)
     values ('pgtap-02-exec-forged', '00000002-0000-4000-8000-0000000000a1') $$,
  '42501', null, 'owner: cannot create executions');
select throws_ok(
  $$ update public.workflows set name = 'renamed' where id = '00000002-0000-4000-8000-0000000000a1' $$,
  '42501', null, 'owner: cannot update workflows');
select throws_ok(
  $$ insert into public.workflow_execution_log_counts
       (execution_id, log_category, level, event_type, is_milestone, log_count, first_log_at, last_log_at, last_seq)
     values ('pgtap-02-exec-owner', 'technical', 'INFO', 'separator', false, 1000, now(), now(), 1) $$,
  '42501', null, 'owner: cannot write the stats tables');

-- =============================================================================================
-- Another user (authenticated, sub = other): sees none of the owner's rows, only their own
-- =============================================================================================
select set_config('request.jwt.claims',
  '{"sub":"00000002-0000-4000-8000-000000000002","role":"authenticated"}', true);

select is_empty($$ select 1 from public.workflows where id = '00000002-0000-4000-8000-0000000000a1' $$,
                'other user: does not see the owner''s workflow');
select is_empty($$ select 1 from public.workflow_executions where execution_id = 'pgtap-02-exec-owner' $$,
                'other user: does not see the owner''s execution');
select is_empty($$ select 1 from public.workflow_execution_logs where execution_id = 'pgtap-02-exec-owner' $$,
                'other user: does not see the owner''s logs');
select is_empty($$ select 1 from public.workflow_execution_log_counts where execution_id = 'pgtap-02-exec-owner' $$,
                'other user: does not see the owner''s log counts');
select is_empty($$ select 1 from public.workflow_execution_nodes where execution_id = 'pgtap-02-exec-owner' $$,
                'other user: does not see the owner''s nodes');
select results_eq(
  $$ select message from public.workflow_execution_logs where execution_id like 'pgtap-02-%' order by seq $$,
  $$ values ('other 1'), ('other 2') $$,
  'other user: sees exactly their own 2 logs');
select is((select count(*)::int from public.workflow_execution_logs where id::text like '00000002-%'), 2,
          'other user: counting every fixture log finds only their own');

-- A signed-in role without a subject (auth.uid() is null) sees nothing at all.
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
select is_empty($$ select 1 from public.workflow_execution_logs where execution_id like 'pgtap-02-%' $$,
                'authenticated without sub: sees no logs');
select is_empty($$ select 1 from public.workflow_executions where execution_id like 'pgtap-02-%' $$,
                'authenticated without sub: sees no executions');

-- =============================================================================================
-- anon: no privilege on any table
-- =============================================================================================
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);

select throws_ok($$ select 1 from public.workflows $$, '42501', null, 'anon: cannot read workflows');
select throws_ok($$ select 1 from public.workflow_executions $$, '42501', null, 'anon: cannot read workflow_executions');
select throws_ok($$ select 1 from public.workflow_execution_logs $$, '42501', null, 'anon: cannot read workflow_execution_logs');
select throws_ok($$ select 1 from public.workflow_execution_log_counts $$, '42501', null, 'anon: cannot read workflow_execution_log_counts');
select throws_ok($$ select 1 from public.workflow_execution_nodes $$, '42501', null, 'anon: cannot read workflow_execution_nodes');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message)
     values ('pgtap-02-exec-owner', 'separator', 'anon forged') $$,
  '42501', null, 'anon: cannot insert logs');
select throws_ok(
  $$ update public.workflow_execution_logs set message = 'x' where execution_id = 'pgtap-02-exec-owner' $$,
  '42501', null, 'anon: cannot update logs');
select throws_ok(
  $$ delete from public.workflow_execution_logs where execution_id = 'pgtap-02-exec-owner' $$,
  '42501', null, 'anon: cannot delete logs');

-- =============================================================================================
-- service_role: sees everything, writes logs
-- =============================================================================================
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

select is((select count(*)::int from public.workflows where id::text like '00000002-%'), 2,
          'service_role: sees every fixture workflow');
select is((select count(*)::int from public.workflow_executions where execution_id like 'pgtap-02-%'), 2,
          'service_role: sees every fixture execution');
select is((select count(*)::int from public.workflow_execution_logs where execution_id like 'pgtap-02-%'), 5,
          'service_role: sees every fixture log');
select is((select sum(log_count)::int from public.workflow_execution_log_counts where execution_id like 'pgtap-02-%'), 5,
          'service_role: sees every fixture log count');
select is((select count(*)::int from public.workflow_execution_nodes where execution_id like 'pgtap-02-%'), 2,
          'service_role: sees every fixture node');

select lives_ok(
  $$ insert into public.workflow_execution_logs (id, execution_id, event_type, message)
     values ('00000002-0000-4000-8000-00000000f006', 'pgtap-02-exec-owner', 'separator', 'service 1') $$,
  'service_role: can insert logs');
select lives_ok(
  $$ update public.workflow_execution_logs set level = 'WARNING'
     where id = '00000002-0000-4000-8000-00000000f006' $$,
  'service_role: can update logs');
select is((select level::text from public.workflow_execution_logs where id = '00000002-0000-4000-8000-00000000f006'),
          'WARNING', 'service_role: the update took effect');
select lives_ok(
  $$ delete from public.workflow_execution_logs where id = '00000002-0000-4000-8000-00000000f005' $$,
  'service_role: can delete logs');
select is((select count(*)::int from public.workflow_execution_logs where execution_id like 'pgtap-02-%'), 5,
          'service_role: one inserted and one deleted leaves 5');
select throws_ok(
  $$ insert into public.workflow_execution_log_counts
       (execution_id, log_category, level, event_type, is_milestone, log_count, first_log_at, last_log_at, last_seq)
     values ('pgtap-02-exec-owner', 'technical', 'INFO', 'separator', false, 1000, now(), now(), 1) $$,
  '42501', null, 'service_role: cannot write the stats tables directly (only the triggers do)');

-- The owner sees the service's insert; the other user still does not.
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000002-0000-4000-8000-000000000001","role":"authenticated"}', true);
select results_eq(
  $$ select message from public.workflow_execution_logs where execution_id like 'pgtap-02-%' order by seq $$,
  $$ values ('owner 1'), ('owner 2'), ('owner 3'), ('service 1') $$,
  'owner: sees the log that service_role appended');
select is((select sum(log_count)::int from public.workflow_execution_log_counts where execution_id = 'pgtap-02-exec-owner'), 4,
          'owner: the counts include the appended log');
select set_config('request.jwt.claims',
  '{"sub":"00000002-0000-4000-8000-000000000002","role":"authenticated"}', true);
select is_empty($$ select 1 from public.workflow_execution_logs where id = '00000002-0000-4000-8000-00000000f006' $$,
                'other user: does not see the log that service_role appended to the owner''s execution');
select results_eq(
  $$ select node_id::text, log_count::int, status from public.workflow_execution_nodes where execution_id = 'pgtap-02-exec-other' $$,
  $$ values ('n9', 1, 'running') $$,
  'other user: their node stats follow the service''s delete');
reset role;

select * from finish();
rollback;
