-- Realtime Broadcast: appends and status changes land in realtime.messages on the private topic
-- execution:<id>; only the execution's owner passes the realtime.messages select policy that
-- Realtime checks (with realtime.topic set) when a client joins the topic.
begin;
set local search_path = public, extensions;
select plan(25);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000008-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-08@example.com'),
  ('00000008-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-08@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000008-0000-4000-8000-0000000000a1', '00000008-0000-4000-8000-000000000001', 'owner workflow 08'),
  ('00000008-0000-4000-8000-0000000000a2', '00000008-0000-4000-8000-000000000002', 'other workflow 08');
insert into public.workflow_executions (execution_id, workflow_id, status, start_time) values
  ('pgtap-08-exec', '00000008-0000-4000-8000-0000000000a1', 'RUNNING', '2025-05-01T00:00:00Z'),
  ('pgtap-08-big', '00000008-0000-4000-8000-0000000000a1', 'RUNNING', '2025-05-01T00:00:00Z'),
  ('pgtap-08-other', '00000008-0000-4000-8000-0000000000a2', 'RUNNING', '2025-05-01T00:00:00Z');

create function pg_temp.entry(exec text, msg text) returns jsonb
language sql immutable
as $$ select jsonb_build_object('execution_id', exec, 'event_type', 'step_output', 'message', msg) $$;
grant execute on function pg_temp.entry(text, text) to public;

-- =============================================================================================
-- service_role writes; the triggers broadcast
-- =============================================================================================
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

select is(append_execution_logs(jsonb_build_array(
            pg_temp.entry('pgtap-08-exec', 'one'), pg_temp.entry('pgtap-08-exec', 'two'), pg_temp.entry('pgtap-08-exec', 'three')))
          -> 'inserted', '3'::jsonb, 'service_role appends 3 logs');
select is(append_execution_logs((select jsonb_agg(pg_temp.entry('pgtap-08-big', 'bulk ' || i)) from generate_series(1, 101) i))
          -> 'inserted', '101'::jsonb, 'service_role appends 101 logs in one batch');

reset role;
select results_eq(
  $$ select topic, event, private, extension from realtime.messages where topic like 'execution:pgtap-08-%' order by topic $$,
  $$ values ('execution:pgtap-08-big', 'logs', true, 'broadcast'), ('execution:pgtap-08-exec', 'logs', true, 'broadcast') $$,
  'one private broadcast per statement and execution, event logs, topic execution:<id>');
select is((select payload - 'logs' - 'id' from realtime.messages where topic = 'execution:pgtap-08-exec'),
          (select jsonb_build_object('execution_id', 'pgtap-08-exec', 'first_seq', min(seq), 'last_seq', max(seq), 'count', count(*))
           from public.workflow_execution_logs where execution_id = 'pgtap-08-exec'),
          'the payload carries execution_id, first_seq, last_seq and count');
select is((select payload -> 'logs' from realtime.messages where topic = 'execution:pgtap-08-exec'),
          (select jsonb_agg(workflow_logs_private.log_entry(l) order by l.seq)
           from public.workflow_execution_logs l where l.execution_id = 'pgtap-08-exec'),
          'a small batch carries its LogEntry objects inline, in seq order');
select is((select payload -> 'logs' -> 0 ->> 'message' from realtime.messages where topic = 'execution:pgtap-08-exec'), 'one',
          'the inline logs are the API''s LogEntry shape');
select is((select coalesce(payload -> 'logs', 'null') from realtime.messages where topic = 'execution:pgtap-08-big'), 'null'::jsonb,
          'a batch over 100 entries carries no inline logs');
select is((select payload - 'logs' - 'id' from realtime.messages where topic = 'execution:pgtap-08-big'),
          (select jsonb_build_object('execution_id', 'pgtap-08-big', 'first_seq', min(seq), 'last_seq', max(seq), 'count', count(*))
           from public.workflow_execution_logs where execution_id = 'pgtap-08-big'),
          'a batch over 100 entries still carries the seq range and count to fetch');

-- One batch spanning two executions: one message per topic.
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(append_execution_logs(jsonb_build_array(
            pg_temp.entry('pgtap-08-exec', 'four'), pg_temp.entry('pgtap-08-other', 'other one'), pg_temp.entry('pgtap-08-exec', 'five')))
          -> 'inserted', '3'::jsonb, 'service_role appends a batch spanning two executions');
-- Status changes (and a non-change).
update public.workflow_executions set status = 'SUCCESS', end_time = '2025-05-01T00:05:00Z' where execution_id = 'pgtap-08-exec';
update public.workflow_executions set status = 'RUNNING' where execution_id = 'pgtap-08-big';
update public.workflow_executions set error_message = 'not a status change' where execution_id = 'pgtap-08-other';
reset role;

select results_eq(
  $$ select topic, (payload ->> 'count')::int from realtime.messages
     where topic like 'execution:pgtap-08-%' and event = 'logs'
       and (payload -> 'logs' -> 0 ->> 'message') in ('four', 'other one') order by topic $$,
  $$ values ('execution:pgtap-08-exec', 2), ('execution:pgtap-08-other', 1) $$,
  'a batch spanning two executions broadcasts once to each topic with its own entries');
select is((select payload - 'id' from realtime.messages where topic = 'execution:pgtap-08-exec' and event = 'status'),
          jsonb_build_object('execution_id', 'pgtap-08-exec', 'status', 'SUCCESS',
                             'end_time', '2025-05-01T00:05:00Z'::timestamptz, 'error_message', null),
          'a status change broadcasts event status with the new status and end_time');
select is((select private from realtime.messages where topic = 'execution:pgtap-08-exec' and event = 'status'), true,
          'the status broadcast is private');
select is_empty($$ select 1 from realtime.messages where topic in ('execution:pgtap-08-big', 'execution:pgtap-08-other') and event = 'status' $$,
                'an update that keeps the status, or changes another column, broadcasts nothing');

-- A non-broadcast message on the same topic, which the policy must not expose.
insert into realtime.messages (topic, extension, event, payload, private)
values ('execution:pgtap-08-exec', 'presence', 'sync', '{}', true);

-- =============================================================================================
-- Who may join the topic: the realtime.messages select policy, with realtime.topic set
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000008-0000-4000-8000-000000000001","role":"authenticated"}', true);
select set_config('realtime.topic', 'execution:pgtap-08-exec', true);
select is((select count(*)::int from realtime.messages where topic = 'execution:pgtap-08-exec'), 3,
          'owner, topic execution:<own id>: sees the topic''s broadcasts (2 logs, 1 status) and not the presence row');
select set_config('realtime.topic', 'execution:pgtap-08-other', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'owner, topic of another user''s execution: nothing');
select set_config('realtime.topic', 'execution:pgtap-08-nope', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'owner, topic of an unknown execution: nothing');
select set_config('realtime.topic', 'pgtap-08-exec', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'owner, topic without the execution: prefix: nothing');
select set_config('realtime.topic', 'logs:pgtap-08-exec', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'owner, topic with another prefix: nothing');
select set_config('realtime.topic', '', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'owner, no topic: nothing');

select set_config('request.jwt.claims',
  '{"sub":"00000008-0000-4000-8000-000000000002","role":"authenticated"}', true);
select set_config('realtime.topic', 'execution:pgtap-08-exec', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'other user, topic of the owner''s execution: nothing');
select set_config('realtime.topic', 'execution:pgtap-08-other', true);
select is((select count(*)::int from realtime.messages where topic = 'execution:pgtap-08-other'), 1,
          'other user, topic of their own execution: sees its broadcast');

select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
select set_config('realtime.topic', 'execution:pgtap-08-exec', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'authenticated without sub: nothing');

reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select set_config('realtime.topic', 'execution:pgtap-08-exec', true);
select is_empty($$ select 1 from realtime.messages where topic like 'execution:pgtap-08-%' $$,
                'anon, topic of the owner''s execution: nothing');
reset role;

-- workflow_logs.broadcast: 'hint' sends the seq range without entries, 'off' sends nothing
reset role;
select set_config('workflow_logs.broadcast', 'hint', true);
create temp table hinted as
select public.append_execution_logs(jsonb_build_array(jsonb_build_object(
  'execution_id', (select execution_id from public.workflow_executions order by created_at limit 1),
  'event_type', 'step_output', 'message', 'hinted'))) ->> 'last_seq' as last_seq;
select is((select jsonb_build_object('logs', m.payload -> 'logs', 'count', m.payload -> 'count')
           from realtime.messages m
           where m.event = 'logs' and m.payload ->> 'last_seq' = (select last_seq from hinted)),
          '{"logs": null, "count": 1}'::jsonb,
          'broadcast = hint: a message with the seq range and no entries');
select set_config('workflow_logs.broadcast', 'off', true);
select is((select count(*)::int from realtime.messages where payload ->> 'last_seq' = (
             public.append_execution_logs(jsonb_build_array(jsonb_build_object(
               'execution_id', (select execution_id from public.workflow_executions order by created_at limit 1),
               'event_type', 'step_output', 'message', 'silent'))) ->> 'last_seq')), 0,
          'broadcast = off: no message');
select set_config('workflow_logs.broadcast', '', true);
select * from finish();
rollback;
