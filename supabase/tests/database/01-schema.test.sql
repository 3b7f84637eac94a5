-- Schema: tables, the log table's columns exactly as seed-design 3.1 (plus seq), enums, check
-- constraints (each one proved by a row it rejects), RLS switched on everywhere, indexes, triggers.
begin;
set local search_path = public, extensions;
select plan(50);

-- =============================================================================================
-- Tables
-- =============================================================================================
select has_table('public', 'workflows', 'workflows exists');
select has_table('public', 'workflow_executions', 'workflow_executions exists');
select has_table('public', 'workflow_execution_logs', 'workflow_execution_logs exists');
select has_table('public', 'workflow_execution_log_counts', 'workflow_execution_log_counts exists');
select has_table('public', 'workflow_execution_nodes', 'workflow_execution_nodes exists');

-- =============================================================================================
-- workflow_execution_logs: seed-design 3.1 column for column, plus seq
-- =============================================================================================
select results_eq(
  $$
    select a.attname::text collate "default", format_type(a.atttypid, a.atttypmod) collate "default", a.attnotnull,
           pg_get_expr(d.adbin, d.adrelid) collate "default", a.attidentity::text collate "default"
    from pg_attribute a
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = 'public.workflow_execution_logs'::regclass and a.attnum > 0 and not a.attisdropped
    order by a.attnum
  $$,
  $$
    values
      ('id', 'uuid', true, 'gen_random_uuid()', ''),
      ('execution_id', 'character varying(255)', true, null, ''),
      ('log_category', 'character varying(20)', true, '''technical''::character varying', ''),
      ('event_type', 'log_event_type_enum', true, null, ''),
      ('level', 'log_level_enum', true, '''INFO''::log_level_enum', ''),
      ('message', 'text', true, null, ''),
      ('data', 'jsonb', false, '''{}''::jsonb', ''),
      ('node_id', 'character varying(255)', false, null, ''),
      ('node_name', 'character varying(255)', false, null, ''),
      ('node_type', 'character varying(100)', false, null, ''),
      ('step_number', 'integer', false, null, ''),
      ('total_steps', 'integer', false, null, ''),
      ('progress_percentage', 'numeric(5,2)', false, null, ''),
      ('duration_seconds', 'integer', false, null, ''),
      ('user_friendly_message', 'text', false, null, ''),
      ('display_priority', 'integer', true, '5', ''),
      ('is_milestone', 'boolean', true, 'false', ''),
      ('technical_details', 'jsonb', false, '''{}''::jsonb', ''),
      ('stack_trace', 'text', false, null, ''),
      ('performance_metrics', 'jsonb', false, '''{}''::jsonb', ''),
      ('created_at', 'timestamp with time zone', true, 'now()', ''),
      ('seq', 'bigint', true, null, 'a'),
      ('expires_on', 'date', true,
       '(workflow_logs_private.utc_today() + workflow_logs_private.default_retention_days())', ''),
      ('search_vector', 'tsvector', false,
       '(to_tsvector(''simple''::regconfig, message) || to_tsvector(''simple''::regconfig, COALESCE(user_friendly_message, ''''::text)))', ''),
      ('workflow_id', 'uuid', false, null, '')
  $$,
  'workflow_execution_logs has the seed-design 3.1 columns (name, type, nullability, default) in order, plus seq bigint generated always as identity, the partition key expires_on, the generated search_vector and the denormalised workflow_id'
);
select col_is_pk('public', 'workflow_execution_logs', array['id', 'expires_on'],
                 'workflow_execution_logs'' primary key is (id, expires_on): a partitioned table''s key holds the partition key');
select col_type_is('public', 'workflow_execution_logs', 'event_type', 'public', 'log_event_type_enum',
                   'event_type is public.log_event_type_enum');
select col_type_is('public', 'workflow_execution_logs', 'level', 'public', 'log_level_enum',
                   'level is public.log_level_enum');

-- =============================================================================================
-- Enums
-- =============================================================================================
select enum_has_labels('public', 'log_level_enum', array['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'],
                       'log_level_enum has exactly the five levels, in severity order');
select enum_has_labels('public', 'log_event_type_enum',
  array['workflow_started', 'workflow_completed', 'workflow_progress', 'step_started', 'step_input',
        'step_output', 'step_completed', 'step_error', 'separator'],
  'log_event_type_enum has exactly the nine event types of seed-design 3.1');

-- =============================================================================================
-- Check constraints: they exist, and each rejects a bad row (inserted as the table owner)
-- =============================================================================================
select bag_eq(
  $$ select conname::text collate "default" from pg_constraint
     where conrelid = 'public.workflow_execution_logs'::regclass and contype = 'c' $$,
  $$ values ('workflow_execution_logs_log_category_check'), ('workflow_execution_logs_display_priority_check'),
            ('workflow_execution_logs_progress_percentage_check'), ('workflow_execution_logs_step_check'),
            ('workflow_execution_logs_json_fields_check'), ('workflow_execution_logs_duration_seconds_check'),
            ('workflow_execution_logs_entry_size_check') $$,
  'workflow_execution_logs has its seven check constraints'
);

select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, log_category)
     values ('pgtap-01-exec', 'separator', 'm', 'other') $$,
  '23514', null, 'log_category other than business/technical is rejected');
select lives_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, log_category)
     values ('pgtap-01-exec', 'separator', 'm', 'business'), ('pgtap-01-exec', 'separator', 'm', 'technical') $$,
  'log_category business and technical are accepted');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, display_priority)
     values ('pgtap-01-exec', 'separator', 'm', 0) $$,
  '23514', null, 'display_priority 0 is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, display_priority)
     values ('pgtap-01-exec', 'separator', 'm', 11) $$,
  '23514', null, 'display_priority 11 is rejected');
select lives_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, display_priority)
     values ('pgtap-01-exec', 'separator', 'm', 1), ('pgtap-01-exec', 'separator', 'm', 10) $$,
  'display_priority 1 and 10 are accepted');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, progress_percentage)
     values ('pgtap-01-exec', 'separator', 'm', -0.01) $$,
  '23514', null, 'progress_percentage below 0 is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, progress_percentage)
     values ('pgtap-01-exec', 'separator', 'm', 100.01) $$,
  '23514', null, 'progress_percentage above 100 is rejected');
select lives_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, progress_percentage)
     values ('pgtap-01-exec', 'separator', 'm', 0), ('pgtap-01-exec', 'separator', 'm', 100) $$,
  'progress_percentage 0 and 100 are accepted');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message)
     values ('pgtap-01-exec', 'separator', repeat('x', 10241)) $$,
  '23514', null, 'a message over 10 KB is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, data)
     values ('pgtap-01-exec', 'separator', 'm', jsonb_build_object('blob', repeat('x', 10240))) $$,
  '23514', null, 'an entry whose data pushes it over 10 KB is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, user_friendly_message)
     values ('pgtap-01-exec', 'separator', repeat('x', 6000), repeat('y', 6000)) $$,
  '23514', null, 'the 10 KB limit counts message and user_friendly_message together');
select lives_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message)
     values ('pgtap-01-exec', 'separator', repeat('x', 10000)) $$,
  'an entry under 10 KB is accepted');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, data)
     values ('pgtap-01-exec', 'separator', 'm', '[1, 2]') $$,
  '23514', null, 'data that is an array is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, data)
     values ('pgtap-01-exec', 'separator', 'm', '"text"') $$,
  '23514', null, 'data that is a string is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, technical_details)
     values ('pgtap-01-exec', 'separator', 'm', '1') $$,
  '23514', null, 'technical_details that is not an object is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, step_number)
     values ('pgtap-01-exec', 'separator', 'm', -1) $$,
  '23514', null, 'a negative step_number is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message, level)
     values ('pgtap-01-exec', 'separator', 'm', 'VERBOSE') $$,
  '22P02', null, 'a level outside log_level_enum is rejected');
select throws_ok(
  $$ insert into public.workflow_execution_logs (execution_id, event_type, message)
     values ('pgtap-01-exec', 'separator', null) $$,
  '23502', null, 'message is required');

-- =============================================================================================
-- Row Level Security is on for every table the API roles can reach
-- =============================================================================================
select ok((select relrowsecurity from pg_class where oid = 'public.workflows'::regclass),
          'RLS is enabled on workflows');
select ok((select relrowsecurity from pg_class where oid = 'public.workflow_executions'::regclass),
          'RLS is enabled on workflow_executions');
select ok((select relrowsecurity from pg_class where oid = 'public.workflow_execution_logs'::regclass),
          'RLS is enabled on workflow_execution_logs');
select ok((select relrowsecurity from pg_class where oid = 'public.workflow_execution_log_counts'::regclass),
          'RLS is enabled on workflow_execution_log_counts');
select ok((select relrowsecurity from pg_class where oid = 'public.workflow_execution_nodes'::regclass),
          'RLS is enabled on workflow_execution_nodes');
select ok((select relrowsecurity from pg_class where oid = 'realtime.messages'::regclass),
          'RLS is enabled on realtime.messages');
select is_empty(
  $$ select c.relname from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'no table in public has RLS disabled');

-- =============================================================================================
-- Indexes: one per query shape, and on every column an RLS policy reads
-- =============================================================================================
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_execution_id_seq_idx',
                 array['execution_id', 'seq', 'expires_on'],
                 'logs are indexed by (execution_id, seq) for pages and cursors, carrying expires_on (the partition bound) for index-only scans');
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_execution_id_level_seq_idx',
                 array['execution_id', 'level', 'seq'], 'logs are indexed by (execution_id, level, seq)');
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_execution_id_log_category_seq_idx',
                 array['execution_id', 'log_category', 'seq'], 'logs are indexed by (execution_id, log_category, seq)');
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_milestones_idx',
                 array['execution_id', 'seq'], 'milestones have their own index');
select is((select pg_get_expr(indpred, indrelid) from pg_index
           where indexrelid = 'public.workflow_execution_logs_milestones_idx'::regclass),
          'is_milestone', 'the milestone index is partial (where is_milestone)');
select has_index('public', 'workflow_execution_logs', 'workflow_execution_logs_execution_id_created_at_idx',
                 array['execution_id', 'created_at', 'expires_on'],
                 'logs are indexed by (execution_id, created_at) for time windows, carrying expires_on');
select has_index('public', 'workflows', 'workflows_user_id_idx', array['user_id'],
                 'workflows.user_id (read by every RLS policy) is indexed');
select has_index('public', 'workflow_executions', 'workflow_executions_workflow_id_start_time_idx',
                 array['workflow_id', 'start_time'], 'executions are indexed by (workflow_id, start_time)');

-- =============================================================================================
-- Triggers that keep stats and push live events
-- =============================================================================================
select triggers_are('public', 'workflow_execution_logs',
  array['workflow_execution_logs_stats_insert', 'workflow_execution_logs_stats_update',
        'workflow_execution_logs_stats_delete', 'workflow_execution_logs_stats_truncate',
        'workflow_execution_logs_notify', 'workflow_execution_logs_broadcast',
        'workflow_execution_logs_expiry_insert', 'workflow_execution_logs_expiry_update',
        'workflow_execution_logs_set_workflow_id'],
  'workflow_execution_logs has the stats, notify, broadcast, expiry-range and workflow_id triggers');
select has_trigger('public', 'workflow_executions', 'workflow_executions_status_changed',
                   'workflow_executions announces status changes');
select ok(exists (select 1 from pg_publication_tables
                  where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'workflow_execution_logs'),
          'workflow_execution_logs is in the supabase_realtime publication');
select ok(exists (select 1 from pg_publication_tables
                  where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'workflow_executions'),
          'workflow_executions is in the supabase_realtime publication');

-- =============================================================================================
-- Stats tables follow direct inserts made by the owner above
-- =============================================================================================
select is((select sum(log_count)::bigint from public.workflow_execution_log_counts where execution_id = 'pgtap-01-exec'),
          (select count(*) from public.workflow_execution_logs where execution_id = 'pgtap-01-exec'),
          'log counts match the rows that the checks let through');

select * from finish();
rollback;
