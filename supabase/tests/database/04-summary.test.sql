-- get_execution_logs_summary: shape and every number against a brute-force query over the logs,
-- node status from each node's last step event, an empty execution, stats after service_role
-- UPDATE and DELETE, and who may call it.
begin;
set local search_path = public, extensions;
select plan(39);

-- =============================================================================================
-- Fixtures (as postgres)
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000004-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'owner-04@example.com'),
  ('00000004-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'other-04@example.com');
insert into public.workflows (id, user_id, name) values
  ('00000004-0000-4000-8000-0000000000a1', '00000004-0000-4000-8000-000000000001', 'owner workflow 04');
insert into public.workflow_executions (execution_id, workflow_id, status, start_time) values
  ('pgtap-04-exec', '00000004-0000-4000-8000-0000000000a1', 'RUNNING', '2025-02-01T10:00:00Z'),
  ('pgtap-04-empty', '00000004-0000-4000-8000-0000000000a1', 'NEW', '2025-02-01T10:00:00Z');

-- Nodes: a (started, completed) -> completed; b (started, error) -> failed; c (started, output)
-- -> running; d (completed, then started again) -> running; e (no step events, no name) -> running.
insert into public.workflow_execution_logs
  (id, execution_id, event_type, level, message, user_friendly_message, node_id, node_name, node_type,
   step_number, is_milestone, log_category, created_at)
values
  ('00000004-0000-4000-8000-00000000f001', 'pgtap-04-exec', 'workflow_started', 'INFO', 'wf start', 'Workflow started', null, null, null, null, true, 'business', '2025-02-01T10:00:00Z'),
  ('00000004-0000-4000-8000-00000000f002', 'pgtap-04-exec', 'step_started', 'INFO', 'a start', null, 'a', 'Node A', 'http', 1, false, 'technical', '2025-02-01T10:00:01Z'),
  ('00000004-0000-4000-8000-00000000f003', 'pgtap-04-exec', 'step_input', 'DEBUG', 'a input', null, 'a', 'Node A', 'http', 1, false, 'technical', '2025-02-01T10:00:02Z'),
  ('00000004-0000-4000-8000-00000000f004', 'pgtap-04-exec', 'step_completed', 'INFO', 'a done', 'Node A finished', 'a', 'Node A', 'http', 1, true, 'business', '2025-02-01T10:00:03Z'),
  ('00000004-0000-4000-8000-00000000f005', 'pgtap-04-exec', 'step_started', 'INFO', 'b start', null, 'b', 'Node B', 'llm', 2, false, 'technical', '2025-02-01T10:00:04Z'),
  ('00000004-0000-4000-8000-00000000f006', 'pgtap-04-exec', 'step_error', 'ERROR', 'b failed', null, 'b', 'Node B', 'llm', 2, true, 'technical', '2025-02-01T10:00:05Z'),
  ('00000004-0000-4000-8000-00000000f007', 'pgtap-04-exec', 'step_started', 'INFO', 'c start', null, 'c', 'Node C', null, 3, false, 'technical', '2025-02-01T10:00:06Z'),
  ('00000004-0000-4000-8000-00000000f008', 'pgtap-04-exec', 'step_output', 'WARNING', 'c output', null, 'c', 'Node C', null, null, false, 'technical', '2025-02-01T10:00:07Z'),
  ('00000004-0000-4000-8000-00000000f009', 'pgtap-04-exec', 'step_completed', 'INFO', 'd done', null, 'd', 'Node D', null, 4, false, 'technical', '2025-02-01T10:00:08Z'),
  ('00000004-0000-4000-8000-00000000f010', 'pgtap-04-exec', 'step_started', 'INFO', 'd again', null, 'd', 'Node D', null, 5, false, 'technical', '2025-02-01T10:00:09Z'),
  ('00000004-0000-4000-8000-00000000f011', 'pgtap-04-exec', 'workflow_progress', 'CRITICAL', 'e note', null, 'e', null, null, null, false, 'technical', '2025-02-01T10:00:10Z'),
  ('00000004-0000-4000-8000-00000000f012', 'pgtap-04-exec', 'separator', 'INFO', '---', null, null, null, null, null, false, 'technical', '2025-02-01T10:00:11Z'),
  ('00000004-0000-4000-8000-00000000f013', 'pgtap-04-exec', 'workflow_completed', 'INFO', 'wf done', 'All done', null, null, null, null, true, 'business', '2025-02-01T10:01:40Z');

-- The numbers a summary must report, computed straight from the logs under the caller's RLS.
create function pg_temp.expected_levels(exec text) returns jsonb language sql stable as $$
  select coalesce(jsonb_object_agg(lower(level::text), n), '{}') from
    (select level, count(*) n from public.workflow_execution_logs where execution_id = exec group by level) x $$;
create function pg_temp.expected_event_types(exec text) returns jsonb language sql stable as $$
  select coalesce(jsonb_object_agg(event_type, n), '{}') from
    (select event_type, count(*) n from public.workflow_execution_logs where execution_id = exec group by event_type) x $$;
create function pg_temp.expected_milestones(exec text) returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('timestamp', created_at, 'message', coalesce(user_friendly_message, message),
                                               'event_type', event_type) order by seq), '[]')
  from public.workflow_execution_logs where execution_id = exec and is_milestone $$;
-- Milestones as returned, without keys beyond the contract's (seq is an extra).
create function pg_temp.milestones(summary jsonb) returns jsonb language sql immutable as $$
  select coalesce(jsonb_agg(m - 'seq' order by k), '[]')
  from jsonb_array_elements(summary -> 'milestones') with ordinality x(m, k) $$;
-- Node name, count, step and status from the logs: status is that of the node's last step event.
create function pg_temp.expected_nodes(exec text) returns jsonb language sql stable as $$
  select coalesce(jsonb_object_agg(node_id, node), '{}') from (
    select node_id, jsonb_strip_nulls(jsonb_build_object(
      'node_name', coalesce((array_agg(node_name order by seq desc) filter (where node_name is not null))[1], node_id),
      'logs_count', count(*),
      'step_number', (array_agg(step_number order by seq desc) filter (where step_number is not null))[1],
      'status', coalesce((array_agg(case event_type when 'step_started' then 'running'
                                                    when 'step_completed' then 'completed'
                                                    when 'step_error' then 'failed' end order by seq desc)
                          filter (where event_type in ('step_started', 'step_completed', 'step_error')))[1], 'running'))) as node
    from public.workflow_execution_logs where execution_id = exec and node_id is not null
    group by node_id) x $$;
create function pg_temp.nodes(summary jsonb) returns jsonb language sql immutable as $$
  select coalesce(jsonb_object_agg(key, jsonb_strip_nulls(jsonb_build_object(
      'node_name', value -> 'node_name', 'logs_count', value -> 'logs_count',
      'step_number', value -> 'step_number', 'status', value -> 'status'))), '{}')
  from jsonb_each(summary -> 'nodes') $$;
grant execute on all functions in schema pg_temp to public;

-- =============================================================================================
-- As the owner
-- =============================================================================================
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000004-0000-4000-8000-000000000001","role":"authenticated"}', true);

select ok(get_execution_logs_summary('pgtap-04-exec')
            ?& array['execution_id', 'total_logs', 'log_levels', 'event_types', 'milestones', 'nodes', 'timeline'],
          'summary has execution_id, total_logs, log_levels, event_types, milestones, nodes, timeline');
select is(get_execution_logs_summary('pgtap-04-exec') ->> 'execution_id', 'pgtap-04-exec', 'execution_id is echoed');
select is((get_execution_logs_summary('pgtap-04-exec') ->> 'total_logs')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-04-exec'),
          'total_logs matches a brute-force count');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'log_levels', pg_temp.expected_levels('pgtap-04-exec'),
          'log_levels matches a brute-force count per level');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'log_levels',
          '{"debug": 1, "info": 9, "warning": 1, "error": 1, "critical": 1}'::jsonb,
          'log_levels keys are lowercase level names');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'event_types', pg_temp.expected_event_types('pgtap-04-exec'),
          'event_types matches a brute-force count per event type');
select is(pg_temp.milestones(get_execution_logs_summary('pgtap-04-exec')), pg_temp.expected_milestones('pgtap-04-exec'),
          'milestones: every milestone in seq order with timestamp, message (user-friendly first) and event_type');
select is(jsonb_array_length(get_execution_logs_summary('pgtap-04-exec') -> 'milestones'), 4, 'there are 4 milestones');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'milestones' -> 0 ->> 'message', 'Workflow started',
          'a milestone''s message is its user_friendly_message when set');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'milestones' -> 2 ->> 'message', 'b failed',
          'a milestone''s message falls back to message');
select is(pg_temp.nodes(get_execution_logs_summary('pgtap-04-exec')), pg_temp.expected_nodes('pgtap-04-exec'),
          'nodes: keyed by node_id with node_name, logs_count, step_number, status as computed from the logs');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'a' ->> 'status', 'completed',
          'node a (started, completed): completed');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'b' ->> 'status', 'failed',
          'node b (started, error): failed');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'c' ->> 'status', 'running',
          'node c (started, then a non-step event): running');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'd' ->> 'status', 'running',
          'node d (completed, then started again): running - the last step event wins');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'd' -> 'step_number', '5'::jsonb,
          'node d: step_number is the latest one');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'e',
          jsonb_build_object('node_name', 'e', 'logs_count', 1, 'status', 'running',
                             'first_log', '2025-02-01T10:00:10Z'::timestamptz, 'last_log', '2025-02-01T10:00:10Z'::timestamptz),
          'node e (no name, no step): node_name falls back to node_id, status running');
select is((select count(*)::int from jsonb_object_keys(get_execution_logs_summary('pgtap-04-exec') -> 'nodes')), 5,
          'logs without node_id make no node');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'timeline',
          jsonb_build_object('first_log', '2025-02-01T10:00:00+00:00'::timestamptz, 'last_log', '2025-02-01T10:01:40+00:00'::timestamptz,
                             'duration_estimate', 100),
          'timeline: first_log and last_log are the earliest and latest created_at, duration_estimate the seconds between');
select is((get_execution_logs_summary('pgtap-04-exec') -> 'timeline' ->> 'first_log')::timestamptz,
          (select min(created_at) from workflow_execution_logs where execution_id = 'pgtap-04-exec'),
          'timeline.first_log parses back to the earliest created_at');

-- An execution without logs.
select is(get_execution_logs_summary('pgtap-04-empty') - 'execution_id' - 'status' - 'log_categories',
          '{"total_logs": 0, "log_levels": {}, "event_types": {}, "milestones": [], "nodes": {},
            "timeline": {"first_log": null, "last_log": null, "duration_estimate": null}}'::jsonb,
          'an execution without logs: zeros, empty maps and lists, null timeline');

select throws_ok($$ select get_execution_logs_summary('pgtap-04-nope') $$, 'P0002', 'execution pgtap-04-nope not found',
                 'owner: an unknown execution raises P0002');

-- =============================================================================================
-- service_role rewrites history: UPDATE and DELETE keep the stats right
-- =============================================================================================
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

-- Level INFO -> ERROR; node b's error becomes a completion; node c gets a new name.
update public.workflow_execution_logs set level = 'ERROR' where id = '00000004-0000-4000-8000-00000000f012';
update public.workflow_execution_logs set event_type = 'step_completed', is_milestone = false
  where id = '00000004-0000-4000-8000-00000000f006';
update public.workflow_execution_logs set node_name = 'Node C renamed' where id = '00000004-0000-4000-8000-00000000f008';

select is(get_execution_logs_summary('pgtap-04-exec') -> 'log_levels', pg_temp.expected_levels('pgtap-04-exec'),
          'after UPDATE: log_levels match the logs');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'log_levels' -> 'error', '2'::jsonb,
          'after UPDATE: the changed level is counted under error');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'event_types', pg_temp.expected_event_types('pgtap-04-exec'),
          'after UPDATE: event_types match the logs');
select is(pg_temp.milestones(get_execution_logs_summary('pgtap-04-exec')), pg_temp.expected_milestones('pgtap-04-exec'),
          'after UPDATE: milestones match the logs');
select is(pg_temp.nodes(get_execution_logs_summary('pgtap-04-exec')), pg_temp.expected_nodes('pgtap-04-exec'),
          'after UPDATE: nodes match the logs');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'nodes' -> 'b' ->> 'status', 'completed',
          'after UPDATE: node b follows its rewritten last step event');
select is((get_execution_logs('pgtap-04-exec', level => 'error')::jsonb ->> 'total_count')::int, 2,
          'after UPDATE: get_execution_logs total_count follows too');

-- Delete node a entirely, and the last log (the timeline shrinks).
delete from public.workflow_execution_logs where node_id = 'a' or id = '00000004-0000-4000-8000-00000000f013';

select is((get_execution_logs_summary('pgtap-04-exec') ->> 'total_logs')::int,
          (select count(*)::int from workflow_execution_logs where execution_id = 'pgtap-04-exec'),
          'after DELETE: total_logs matches the logs');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'log_levels', pg_temp.expected_levels('pgtap-04-exec'),
          'after DELETE: log_levels match the logs (debug is gone)');
select is(get_execution_logs_summary('pgtap-04-exec') -> 'event_types', pg_temp.expected_event_types('pgtap-04-exec'),
          'after DELETE: event_types match the logs');
select is(pg_temp.nodes(get_execution_logs_summary('pgtap-04-exec')), pg_temp.expected_nodes('pgtap-04-exec'),
          'after DELETE: nodes match the logs');
select ok(not get_execution_logs_summary('pgtap-04-exec') -> 'nodes' ? 'a', 'after DELETE: a node without logs is gone');
select is((get_execution_logs_summary('pgtap-04-exec') -> 'timeline' ->> 'last_log')::timestamptz,
          '2025-02-01T10:00:11Z'::timestamptz, 'after DELETE: timeline.last_log moved back');
select is((get_execution_logs_summary('pgtap-04-exec') -> 'timeline' ->> 'duration_estimate')::numeric, 11::numeric,
          'after DELETE: duration_estimate follows');

-- Delete everything: back to the empty summary.
delete from public.workflow_execution_logs where execution_id = 'pgtap-04-exec';
select is(get_execution_logs_summary('pgtap-04-exec') - 'execution_id' - 'status' - 'log_categories',
          '{"total_logs": 0, "log_levels": {}, "event_types": {}, "milestones": [], "nodes": {},
            "timeline": {"first_log": null, "last_log": null, "duration_estimate": null}}'::jsonb,
          'after deleting every log: the empty summary');

-- =============================================================================================
-- Another user and anon
-- =============================================================================================
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"00000004-0000-4000-8000-000000000002","role":"authenticated"}', true);
select throws_ok($$ select get_execution_logs_summary('pgtap-04-exec') $$, 'P0002', 'execution pgtap-04-exec not found',
                 'other user: the owner''s execution raises P0002');

reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$ select get_execution_logs_summary('pgtap-04-exec') $$, '42501', null, 'anon: permission denied');
reset role;

select * from finish();
rollback;
