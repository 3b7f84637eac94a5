-- Privileges: who may execute which function, how the functions are declared (security invoker,
-- search_path pinned), that the private helpers and trigger functions are out of the API roles'
-- reach, and the table privileges each role holds.
begin;
set local search_path = public, extensions;
select plan(50);

-- =============================================================================================
-- The public SQL API
-- =============================================================================================
select functions_are('public',
  array['get_execution_logs', 'get_execution_logs_summary', 'get_recent_logs', 'append_execution_logs',
        'get_execution_state', 'get_execution_log_events', 'get_execution_log_events_batch',
        'get_workflow_logs', 'get_workflow_stats'],
  'public holds exactly the API functions');

create temporary table pgtap_09_api (fn regprocedure, reader boolean);
insert into pgtap_09_api values
  ('public.get_execution_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text)', true),
  ('public.get_workflow_logs(text, integer, integer, text, text, text, bigint, text, text, text, boolean, integer, text, text)', true),
  ('public.get_workflow_stats(text, text, text, integer)', true),
  ('public.get_execution_logs_summary(text)', true),
  ('public.get_recent_logs(text, integer, boolean)', true),
  ('public.append_execution_logs(jsonb)', false),
  ('public.get_execution_state(text)', true),
  ('public.get_execution_log_events(text, bigint, integer)', true);

select is_empty($$ select fn from pgtap_09_api where has_function_privilege('anon', fn, 'execute') $$,
                'anon cannot execute any API function');
select bag_eq(
  $$ select fn::text from pgtap_09_api where has_function_privilege('authenticated', fn, 'execute') $$,
  $$ select fn::text from pgtap_09_api where reader $$,
  'authenticated can execute the readers and not append_execution_logs');
select ok(not has_function_privilege('authenticated', 'public.append_execution_logs(jsonb)', 'execute'),
          'authenticated cannot execute append_execution_logs');
select is((select count(*)::int from pgtap_09_api where has_function_privilege('service_role', fn, 'execute')), 8,
          'service_role can execute every API function');
select is_empty($$ select a.fn from pgtap_09_api a, pg_proc p, aclexplode(p.proacl) x
                   where p.oid = a.fn and x.grantee = 0 $$,
                'no API function is executable by PUBLIC');
select is_empty($$ select a.fn from pgtap_09_api a join pg_proc p on p.oid = a.fn where p.prosecdef $$,
                'every API function is security invoker');
select is_empty($$ select a.fn from pgtap_09_api a join pg_proc p on p.oid = a.fn
                   where not coalesce('search_path=""' = any (p.proconfig), false) $$,
                'every API function pins search_path to ''''');
select bag_eq(
  $$ select a.fn::text, p.provolatile::text from pgtap_09_api a join pg_proc p on p.oid = a.fn $$,
  $$ values ('append_execution_logs(jsonb)', 'v'),
            ('get_execution_logs(text,integer,integer,text,text,text,bigint,text,text,text,boolean,integer,text,text)', 's'),
            ('get_workflow_logs(text,integer,integer,text,text,text,bigint,text,text,text,boolean,integer,text,text)', 's'),
            ('get_workflow_stats(text,text,text,integer)', 's'),
            ('get_execution_log_events(text,bigint,integer)', 's'),
            ('get_execution_logs_summary(text)', 's'),
            ('get_execution_state(text)', 's'),
            ('get_recent_logs(text,integer,boolean)', 's') $$,
  'the readers are stable, append is volatile');
select is_empty($$ select a.fn from pgtap_09_api a join pg_proc p on p.oid = a.fn where obj_description(p.oid, 'pg_proc') is null $$,
                'every API function has a comment');

-- Fixtures for the calls below (as postgres).
insert into auth.users (id, aud, role, email) values
  ('00000009-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-09@example.com'),
  ('00000009-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-09@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000009-0000-4000-8000-0000000000a1', '00000009-0000-4000-8000-000000000001', 'owner workflow 09');
insert into public.workflow_executions (execution_id, workflow_id, status) values
  ('pgtap-09-exec', '00000009-0000-4000-8000-0000000000a1', 'RUNNING');
insert into public.workflow_execution_logs (execution_id, event_type, level, message) values
  ('pgtap-09-exec', 'workflow_started', 'INFO', 'secret 1'), ('pgtap-09-exec', 'step_error', 'ERROR', 'secret 2');

-- The grants hold at execution time too, not only in the catalog.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"00000009-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select public.append_execution_logs('[]') $$, '42501', null, 'authenticated: calling append is denied');
select throws_ok($$ select workflow_logs_private.refresh_execution_stats(array['pgtap-09-exec']) $$, '42501', null,
                 'authenticated: calling refresh_execution_stats (security definer) is denied');
select throws_ok($$ select workflow_logs_private.insert_log_entries('[]') $$, '42501', null,
                 'authenticated: calling insert_log_entries is denied');

-- The security definer readers are callable by authenticated, but reveal nothing to a non-owner.
select throws_ok($$ select workflow_logs_private.execution_logs_page('pgtap-09-exec', 100, 0, null, null, null, null, null, false, null, null, null) $$,
                 'P0002', 'execution pgtap-09-exec not found', 'other user: the page reader called directly raises P0002');
select throws_ok($$ select workflow_logs_private.execution_logs_summary('pgtap-09-exec', 'RUNNING') $$,
                 'P0002', 'execution pgtap-09-exec not found', 'other user: the summary reader called directly raises P0002');
select throws_ok($$ select workflow_logs_private.execution_recent_logs('pgtap-09-exec', 10) $$,
                 'P0002', 'execution pgtap-09-exec not found', 'other user: the recent-logs reader called directly raises P0002');
select throws_ok($$ select workflow_logs_private.assert_may_read('pgtap-09-exec') $$,
                 'P0002', 'execution pgtap-09-exec not found', 'other user: assert_may_read refuses');
select set_config('request.jwt.claims', '{"sub":"00000009-0000-4000-8000-000000000001","role":"authenticated"}', true);
select is((select p.total_count::int
           from workflow_logs_private.execution_logs_page('pgtap-09-exec', 100, 0, null, null, null, null, null, false, null, null, null) p),
          2, 'owner: the page reader called directly works');
select is((select count(*)::int from workflow_logs_private.events_after_many(array['pgtap-09-exec'], array[0::bigint], 10)),
          1, 'owner: the batch reader called directly returns the execution');
select set_config('request.jwt.claims', '{"sub":"00000009-0000-4000-8000-000000000002","role":"authenticated"}', true);
select is_empty($$ select * from workflow_logs_private.events_after_many(array['pgtap-09-exec'], array[0::bigint], 10) $$,
                'other user: the batch reader called directly returns nothing');
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
select throws_ok($$ select workflow_logs_private.execution_recent_logs('pgtap-09-exec', 10) $$,
                 'P0002', null, 'authenticated without sub: the readers refuse');
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select workflow_logs_private.execution_logs_summary('pgtap-09-exec', 'RUNNING') $$,
                 '42501', null, 'anon: the readers are not executable');
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select lives_ok($$ select public.append_execution_logs('[]') $$, 'service_role: calling append is allowed');
select is((workflow_logs_private.execution_logs_summary('pgtap-09-exec', 'RUNNING') ->> 'total_logs')::int, 2,
          'service_role (bypasses RLS): the summary reader works');
select throws_ok($$ select workflow_logs_private.refresh_execution_stats(array['pgtap-09-exec']) $$, '42501', null,
                 'service_role: calling refresh_execution_stats is denied too');
reset role;

-- =============================================================================================
-- workflow_logs_private: trigger and security definer functions are not for the API roles
-- =============================================================================================
select is_empty(
  $$ select p.oid::regprocedure, r.rolname
     from pg_proc p cross join (values ('anon'), ('authenticated'), ('service_role')) r(rolname)
     where p.pronamespace = 'workflow_logs_private'::regnamespace
       and (p.prorettype = 'trigger'::regtype or p.oid = 'workflow_logs_private.refresh_execution_stats(text[])'::regprocedure)
       and has_function_privilege(r.rolname, p.oid, 'execute') $$,
  'no API role can execute a trigger function or refresh_execution_stats');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
     where p.pronamespace = 'workflow_logs_private'::regnamespace and p.prosecdef
       and has_function_privilege('anon', p.oid, 'execute') $$,
  'anon cannot execute any security definer function');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
     where p.pronamespace = 'workflow_logs_private'::regnamespace and p.prosecdef and p.prorettype <> 'trigger'::regtype
       and p.oid not in ('workflow_logs_private.assert_may_read(text)'::regprocedure,
                         'workflow_logs_private.assert_may_read_workflow(uuid)'::regprocedure,
                         'workflow_logs_private.caller_bypasses_rls()'::regprocedure)
       and has_function_privilege('authenticated', p.oid, 'execute')
       and p.prosrc !~ 'perform workflow_logs_private\.assert_may_read(_workflow)?\('
       and p.prosrc !~ 'where workflow_logs_private\.caller_bypasses_rls\(\)\s+or exists' $$,
  'every security definer reader that authenticated may call checks ownership (assert_may_read, or the same rule set-based)');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p, aclexplode(p.proacl) x
     where p.pronamespace = 'workflow_logs_private'::regnamespace and x.grantee = 0 $$,
  'no workflow_logs_private function is executable by PUBLIC');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
     where p.pronamespace = 'workflow_logs_private'::regnamespace and p.proacl is null $$,
  'every workflow_logs_private function has explicit privileges (a null ACL means PUBLIC may execute)');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
     where p.pronamespace = 'workflow_logs_private'::regnamespace and p.prosecdef
       and not coalesce('search_path=""' = any (p.proconfig), false) $$,
  'every security definer function pins search_path to ''''');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
     where p.pronamespace = 'public'::regnamespace and p.prosecdef $$,
  'no security definer function lives in the exposed public schema');
select ok(not has_function_privilege('anon', 'workflow_logs_private.insert_log_entries(jsonb)', 'execute')
          and not has_function_privilege('authenticated', 'workflow_logs_private.insert_log_entries(jsonb)', 'execute')
          and has_function_privilege('service_role', 'workflow_logs_private.insert_log_entries(jsonb)', 'execute'),
          'insert_log_entries (the write path of append) is executable by service_role only');
select ok(not has_function_privilege('anon', 'workflow_logs_private.require_execution(text)', 'execute'),
          'anon cannot execute the private read helpers');

-- =============================================================================================
-- Table privileges
-- =============================================================================================
select table_privs_are('public', 'workflows', 'anon', array[]::text[], 'anon: no privileges on workflows');
select table_privs_are('public', 'workflow_executions', 'anon', array[]::text[], 'anon: no privileges on workflow_executions');
select table_privs_are('public', 'workflow_execution_logs', 'anon', array[]::text[], 'anon: no privileges on workflow_execution_logs');
select table_privs_are('public', 'workflow_execution_log_counts', 'anon', array[]::text[], 'anon: no privileges on workflow_execution_log_counts');
select table_privs_are('public', 'workflow_execution_nodes', 'anon', array[]::text[], 'anon: no privileges on workflow_execution_nodes');
select table_privs_are('public', 'workflows', 'authenticated', array['SELECT'], 'authenticated: select only on workflows');
select table_privs_are('public', 'workflow_executions', 'authenticated', array['SELECT'], 'authenticated: select only on workflow_executions');
select table_privs_are('public', 'workflow_execution_logs', 'authenticated', array['SELECT'], 'authenticated: select only on workflow_execution_logs');
select table_privs_are('public', 'workflow_execution_log_counts', 'authenticated', array['SELECT'], 'authenticated: select only on workflow_execution_log_counts');
select table_privs_are('public', 'workflow_execution_nodes', 'authenticated', array['SELECT'], 'authenticated: select only on workflow_execution_nodes');
select table_privs_are('public', 'workflows', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role: read and write workflows');
select table_privs_are('public', 'workflow_executions', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role: read and write workflow_executions');
select table_privs_are('public', 'workflow_execution_logs', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role: read and write workflow_execution_logs');
select table_privs_are('public', 'workflow_execution_log_counts', 'service_role', array['SELECT'], 'service_role: select only on workflow_execution_log_counts (triggers write it)');
select table_privs_are('public', 'workflow_execution_nodes', 'service_role', array['SELECT'], 'service_role: select only on workflow_execution_nodes (triggers write it)');
select ok(not has_sequence_privilege('anon', 'public.workflow_execution_logs_seq_seq', 'usage')
          and not has_sequence_privilege('authenticated', 'public.workflow_execution_logs_seq_seq', 'usage'),
          'anon and authenticated cannot use the seq sequence');

select * from finish();
rollback;
