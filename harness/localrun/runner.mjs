// runner.mjs runs executions of state machine definitions on
// aws-local-stepfunctions (an independent implementation of the States
// Language) and serves every Task from the greenlight host over the Lambda
// Invoke API. Time is simulated: Wait states and Retry backoff ask the host
// to sleep on its clock instead of sleeping here, and callback tasks wait
// for the host to see SendTaskSuccess/SendTaskFailure or the timeout.
//
// usage: node runner.mjs HOST_URL
// One process serves every execution of a local environment (starting
// Node costs more than most executions): it reads execution names, one
// per line, on stdin, runs each as soon as it arrives (several at once),
// and prints one JSON line per execution event on stdout, each naming its
// execution, ending with {"type":"Result",...}. It exits once stdin is
// closed and the executions under way have ended.

import { StateMachine } from 'aws-local-stepfunctions';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setImmediate as tick } from 'node:timers/promises';

const [hostURL] = process.argv.slice(2);
if (!hostURL) {
  console.error('usage: node runner.mjs HOST_URL (execution names on stdin)');
  process.exit(2);
}

// The placeholder the Context Object carries as $$.Task.Token; each callback
// task replaces it with a fresh token of its own.
const TOKEN_PLACEHOLDER = 'greenlight-task-token-placeholder';

class TaskError extends Error {
  constructor(name, cause) {
    super(cause);
    this.name = name;
  }
}

function retryDelaySeconds(retrier, attempt) {
  const interval = retrier.IntervalSeconds ?? 1;
  const rate = retrier.BackoffRate ?? 2;
  let d = interval * Math.pow(rate, attempt - 1);
  if (retrier.MaxDelaySeconds !== undefined) d = Math.min(d, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === 'FULL') d = d / 2; // the mean of full jitter, for repeatable runs
  return d;
}

function pick(obj, path) {
  // The few JSONPaths Wait states use here: $.a.b.c
  if (path === '$') return obj;
  return path.replace(/^\$\./, '').split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function replaceToken(value, token) {
  return JSON.parse(JSON.stringify(value).replaceAll(TOKEN_PLACEHOLDER, token));
}

// The definitions that passed validation in this process.
const validated = new Set();

// runExecution runs one execution whose job the host holds.
async function runExecution(execution) {
  let simTime = null; // the host's clock as of its last answer

  async function host(path, body, headers = {}) {
    const res = await fetch(hostURL + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-greenlight-execution': execution, ...headers },
      body: JSON.stringify(body ?? {}),
    });
    const t = res.headers.get('x-greenlight-time');
    if (t) simTime = t;
    const text = await res.text();
    if (res.status >= 400) {
      throw new Error(`host ${path}: HTTP ${res.status}: ${text}`);
    }
    return { res, body: text === '' ? null : JSON.parse(text) };
  }

  function emit(event) {
    process.stdout.write(JSON.stringify({ ...event, execution, time: simTime }) + '\n');
  }

  const job = (await host('/greenlight/job', {})).body;
  const { definition, input, context, tasks, waits } = job;

  // Events are handled strictly in order on one promise chain, so a Wait's
  // simulated sleep happens before the events after it are stamped, and a
  // task can wait for everything before it to be accounted for.
  let tail = Promise.resolve();

  function waitSeconds(state, stateInput) {
    if (state.Seconds !== undefined) return state.Seconds;
    if (state.SecondsPath !== undefined) return pick(stateInput, state.SecondsPath);
    const ts = state.Timestamp ?? (state.TimestampPath !== undefined ? pick(stateInput, state.TimestampPath) : undefined);
    if (ts !== undefined) return Math.max(0, (Date.parse(ts) - Date.parse(simTime)) / 1000);
    return 0;
  }

  async function sleep(seconds, reason) {
    if (!(seconds > 0)) return;
    await host('/greenlight/sleep', { seconds, reason });
  }

  async function handle(ev) {
    const name = ev.state?.name;
    switch (ev.type) {
      case 'StateEntered':
        emit({ type: ev.type, state: name, stateType: ev.state.type });
        if (ev.state.type === 'Wait') await sleep(waitSeconds(waits[name], ev.state.input), `Wait ${name}`);
        break;
      case 'StateExited':
        emit({ type: ev.type, state: name, stateType: ev.state.type });
        break;
      case 'StateFailed':
      case 'StateCaught':
        emit({ type: ev.type, state: name, stateType: ev.state.type, error: ev.Error, cause: ev.Cause });
        break;
      case 'StateRetried': {
        const delay = retryDelaySeconds(ev.retry.retrier, ev.retry.attempt);
        emit({ type: ev.type, state: name, stateType: ev.state.type, attempt: ev.retry.attempt, delaySeconds: delay });
        await sleep(delay, `Retry ${name}`);
        break;
      }
      case 'ParallelBranchStarted':
      case 'ParallelBranchSucceeded':
      case 'ParallelBranchFailed':
        emit({ type: ev.type, state: ev.parentState.name });
        break;
      case 'ExecutionStarted':
        emit({ type: ev.type });
        break;
      case 'ExecutionSucceeded':
      case 'ExecutionFailed':
      case 'ExecutionAborted':
      case 'ExecutionTimeout':
        // The Result line below reports the end.
        break;
      default:
        emit({ type: ev.type, state: name });
    }
  }

  // runTask serves one Task state the way Step Functions would.
  async function runTask(stateName, spec, stateInput) {
    await tick();
    await tail;
    let payload = spec.integration === 'direct' ? stateInput : stateInput.Payload;
    let token = null;
    if (spec.integration === 'callback') {
      token = randomBytes(48).toString('base64url');
      payload = replaceToken(payload, token);
      await host('/greenlight/tokens', { token, state: stateName, timeoutSeconds: spec.timeoutSeconds ?? 0, heartbeatSeconds: spec.heartbeatSeconds ?? 0 });
    }
    const { res, body } = await host(`/2015-03-31/functions/${encodeURIComponent(spec.function)}/invocations`, payload, {
      'x-greenlight-state': stateName,
    });
    if (res.headers.get('x-amz-function-error')) {
      // Step Functions names the error after the function's errorType and
      // keeps the whole error payload as the cause.
      throw new TaskError(body?.errorType ?? 'Lambda.Unknown', JSON.stringify(body));
    }
    if (spec.integration === 'callback') {
      const outcome = (await host(`/greenlight/tokens/${encodeURIComponent(token)}/await`, {})).body;
      if (outcome.status === 'success') return JSON.parse(outcome.output);
      if (outcome.status === 'failure') throw new TaskError(outcome.error || 'States.TaskFailed', outcome.cause ?? '');
      if (outcome.status === 'heartbeat-timeout') throw new TaskError('States.HeartbeatTimeout', 'no heartbeat in time');
      throw new TaskError('States.Timeout', `the task token was not answered within ${spec.timeoutSeconds} seconds`);
    }
    if (spec.integration === 'invoke') {
      return { ExecutedVersion: '$LATEST', Payload: body, StatusCode: 200 };
    }
    return body;
  }

  const taskResourceLocalHandlers = {};
  const retryIntervalOverrides = {};
  for (const [name, spec] of Object.entries(tasks)) {
    taskResourceLocalHandlers[name] = (stateInput) => runTask(name, spec, stateInput);
  }
  for (const name of job.retrying) retryIntervalOverrides[name] = 0;
  const waitTimeOverrides = {};
  for (const name of Object.keys(waits)) waitTimeOverrides[name] = 0;

  // Validating a definition compiles asl-validator's JSON schemas, which
  // costs more than most executions: each distinct definition is validated
  // on its first execution, and later ones run the definition that passed.
  const key = JSON.stringify(definition);
  const validationOptions = validated.has(key) ? { noValidate: true } : { checkArn: true, checkPaths: true };
  const machine = new StateMachine(definition, { validationOptions });
  validated.add(key);
  const run = machine.run(input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context,
  });

  const consumer = (async () => {
    for await (const ev of run.eventLogs) {
      tail = tail.then(() => handle(ev));
    }
  })();

  let result;
  try {
    const output = await run.result;
    result = { type: 'Result', status: 'SUCCEEDED', output };
  } catch (err) {
    // ExecutionError wraps the state's error; Fail states carry Error/Cause.
    const e = err.cause ?? err;
    result = { type: 'Result', status: 'FAILED', error: e.name ?? 'Error', cause: e.message ?? String(e) };
  }
  await consumer;
  await tail;
  emit(result);
}

// Serve: one execution per line on stdin, each run at once.
const running = new Set();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const execution = line.trim();
  if (!execution) return;
  const p = runExecution(execution).catch((err) => {
    process.stdout.write(JSON.stringify({ type: 'Result', execution, status: 'FAILED', error: 'States.Runtime', cause: `runner: ${err?.stack ?? err}` }) + '\n');
  });
  running.add(p);
  p.finally(() => running.delete(p));
});
lines.on('close', async () => {
  await Promise.all([...running]);
  process.exit(0);
});
