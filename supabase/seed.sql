-- Demo data for local development (`make dev`, `supabase db reset`). Idempotent.
--
-- Two users, each with a workflow:
--   alice  a11ce000-0000-4000-8000-000000000001  workflow "Inbox summariser"
--          executions demo-finished (SUCCESS) and demo-running (RUNNING)
--   bob    b0b00000-0000-4000-8000-000000000002  workflow "Invoice extractor"
--          execution demo-bob (ERROR)
-- `workflow-logs token --sub <uuid>` mints a token for either of them.

insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
values
  ('a11ce000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'alice@example.com', '{}', '{"name": "Alice"}'),
  ('b0b00000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'bob@example.com', '{}', '{"name": "Bob"}')
on conflict (id) do nothing;

insert into public.workflows (id, user_id, name, description)
values
  ('f1000000-0000-4000-8000-000000000001', 'a11ce000-0000-4000-8000-000000000001', 'Inbox summariser',
   'Reads new emails, classifies them and writes a digest'),
  ('f2000000-0000-4000-8000-000000000002', 'b0b00000-0000-4000-8000-000000000002', 'Invoice extractor',
   'Pulls totals out of PDF invoices')
on conflict (id) do nothing;

insert into public.workflow_executions (execution_id, workflow_id, status, start_time, end_time, error_message)
values
  ('demo-finished', 'f1000000-0000-4000-8000-000000000001', 'SUCCESS', now() - interval '1 hour', now() - interval '55 minutes', null),
  ('demo-running', 'f1000000-0000-4000-8000-000000000001', 'RUNNING', now() - interval '2 minutes', null, null),
  ('demo-bob', 'f2000000-0000-4000-8000-000000000002', 'ERROR', now() - interval '3 hours', now() - interval '179 minutes', 'PDF parser crashed')
on conflict (execution_id) do update
  set status = excluded.status, end_time = excluded.end_time, error_message = excluded.error_message;

-- A finished run: three steps, business milestones and technical detail.
insert into public.workflow_execution_logs
  (id, execution_id, log_category, event_type, level, message, user_friendly_message, node_id, node_name, node_type,
   step_number, total_steps, progress_percentage, duration_seconds, display_priority, is_milestone,
   data, technical_details, performance_metrics, created_at)
select md5('demo-finished-' || s.n)::uuid, 'demo-finished', s.category, s.event_type::public.log_event_type_enum,
       s.level::public.log_level_enum, s.message, s.friendly, s.node_id, s.node_name, s.node_type,
       s.step, 3, s.progress, s.duration, s.priority, s.milestone, s.data, s.details, s.metrics,
       now() - interval '1 hour' + s.n * interval '20 seconds'
from (values
  (1, 'business', 'workflow_started', 'INFO', 'workflow started', 'Started summarising your inbox', null, null, null, null, 0.0, null, 8, true, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb),
  (2, 'business', 'step_started', 'INFO', 'fetch_emails started', 'Fetching new emails', 'fetch', 'Fetch emails', 'gmail', 1, 0.0, null, 6, false, '{}', '{}', '{}'),
  (3, 'technical', 'step_output', 'DEBUG', 'gmail api returned 12 messages', null, 'fetch', 'Fetch emails', 'gmail', 1, null, null, 3, false, '{"count": 12}', '{"api": "users.messages.list"}', '{"latency_ms": 231}'),
  (4, 'business', 'step_completed', 'INFO', 'fetch_emails completed', 'Fetched 12 new emails', 'fetch', 'Fetch emails', 'gmail', 1, 33.33, 2, 7, true, '{"count": 12}', '{}', '{"duration_ms": 2140}'),
  (5, 'business', 'step_started', 'INFO', 'classify started', 'Sorting emails by topic', 'classify', 'Classify', 'llm', 2, 33.33, null, 6, false, '{}', '{}', '{}'),
  (6, 'technical', 'step_output', 'WARNING', 'model retried after rate limit', null, 'classify', 'Classify', 'llm', 2, null, null, 4, false, '{}', '{"retry_after_s": 1}', '{}'),
  (7, 'business', 'step_completed', 'INFO', 'classify completed', 'Sorted 12 emails into 4 topics', 'classify', 'Classify', 'llm', 2, 66.67, 9, 7, true, '{"topics": 4}', '{}', '{"tokens": 5120}'),
  (8, 'business', 'step_started', 'INFO', 'summarise started', 'Writing your digest', 'summarise', 'Summarise', 'llm', 3, 66.67, null, 6, false, '{}', '{}', '{}'),
  (9, 'business', 'step_completed', 'INFO', 'summarise completed', 'Summarised 12 emails', 'summarise', 'Summarise', 'llm', 3, 100.0, 14, 8, true, '{}', '{}', '{"tokens": 8030}'),
  (10, 'business', 'workflow_completed', 'INFO', 'workflow completed', 'Your digest is ready', null, null, null, null, 100.0, 25, 9, true, '{}', '{}', '{}')
) as s(n, category, event_type, level, message, friendly, node_id, node_name, node_type, step, progress, duration, priority, milestone, data, details, metrics)
on conflict (id) do nothing;

-- A run still in progress: one step done, the second running.
insert into public.workflow_execution_logs
  (id, execution_id, log_category, event_type, level, message, user_friendly_message, node_id, node_name, node_type,
   step_number, total_steps, progress_percentage, display_priority, is_milestone, created_at)
select md5('demo-running-' || s.n)::uuid, 'demo-running', s.category, s.event_type::public.log_event_type_enum,
       'INFO', s.message, s.friendly, s.node_id, s.node_name, 'llm', s.step, 3, s.progress, 6, s.milestone,
       now() - interval '2 minutes' + s.n * interval '10 seconds'
from (values
  (1, 'business', 'workflow_started', 'workflow started', 'Started summarising your inbox', null, null, null, 0.0, true),
  (2, 'business', 'step_started', 'fetch_emails started', 'Fetching new emails', 'fetch', 'Fetch emails', 1, 0.0, false),
  (3, 'business', 'step_completed', 'fetch_emails completed', 'Fetched 5 new emails', 'fetch', 'Fetch emails', 1, 33.33, true),
  (4, 'business', 'step_started', 'classify started', 'Sorting emails by topic', 'classify', 'Classify', 2, 33.33, false)
) as s(n, category, event_type, message, friendly, node_id, node_name, step, progress, milestone)
on conflict (id) do nothing;

-- Bob's failed run (alice must never see it).
insert into public.workflow_execution_logs
  (id, execution_id, log_category, event_type, level, message, node_id, node_name, stack_trace, created_at)
values
  (md5('demo-bob-1')::uuid, 'demo-bob', 'technical', 'step_started', 'INFO', 'parse_pdf started', 'parse', 'Parse PDF', null, now() - interval '3 hours'),
  (md5('demo-bob-2')::uuid, 'demo-bob', 'technical', 'step_error', 'ERROR', 'PDF parser crashed', 'parse', 'Parse PDF',
   E'Traceback (most recent call last):\n  File "parse.py", line 12, in parse\nValueError: bad xref table', now() - interval '179 minutes')
on conflict (id) do nothing;
