// The official Azure IoT Node.js SDK's ModuleClient (azure-iot-device, MQTT
// transport azure-iot-device-mqtt), unchanged, against localhub's module
// identities. Run by hub_node_sdk_module.sh, which starts the hub and passes:
// LOCALHUB (CLI path), LOCALHUB_HOME, HUBHOST (host:port), CERTDIR (the CA and
// leaf certificates made with openssl). Device node-edge has the modules
// sdk-sas (SAS) and sdk-x509 (X.509, CN node-edge/sdk-x509, verified CA).
// Every check compares what the SDK did with what the hub's CLI (or broker
// log) shows, or the other way round; any mismatch throws, and the process
// exits 1. MQTT.js, the SDK's MQTT library, serves as a raw client for the
// input filter ACL.
'use strict';
const { execFile, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const assert = require('assert');
const { ModuleClient, Message, X509AuthenticationProvider } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const mqtt = require('mqtt'); // MQTT.js, the SDK's own MQTT library, as a raw client

const L = process.env.LOCALHUB, HOST = process.env.HUBHOST, CERTS = process.env.CERTDIR;
const DEV = 'node-edge';
const cli = (...args) => execFileSync(L, args, { encoding: 'utf8' });
const cliAsync = (...args) => new Promise((res, rej) =>
  execFile(L, args, { encoding: 'utf8' }, (e, out, err) => (e ? rej(new Error('localhub ' + args.join(' ') + ': ' + err)) : res(out))));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ok = (m) => console.log('ok - ' + m);
const waitFor = async (pred, ms, what) => {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error('timeout (' + ms + ' ms): ' + what);
    await sleep(50);
  }
};
// Rejects when the promise has not settled within ms: a hang is a failure.
const within = (p, ms, what) => Promise.race([p, sleep(ms).then(() => { throw new Error('no answer within ' + ms + ' ms: ' + what); })]);

// The module's session as localhub sees it (connection state, subscriptions).
const events = () => fs.readFileSync(process.env.LOCALHUB_HOME + '/telemetry.jsonl', 'utf8');
// Sessions the broker accepted for a module so far (its log, LOCALHUB_HOME/broker.log).
const brokerSessions = (m) => fs.readFileSync(process.env.LOCALHUB_HOME + '/broker.log', 'utf8').split('\n')
  .filter((l) => l.includes('New client connected') && l.includes(' as ' + DEV + '/' + m + ' ')).length;
const moduleShow = (m) => JSON.parse(cli('--json', 'module', 'show', '--device', DEV, '--module', m));
const subscribed = (m, kind) => {
  const s = JSON.stringify(moduleShow(m));
  return s.includes('"connectionState":"Connected"') && s.includes('"' + kind + '"');
};
// The module's telemetry as 'monitor-events --module' prints it.
const monitor = (m, count) => cli('--json', 'monitor-events', '--device', DEV, '--module', m, '--from-start',
  '--count', String(count), '--timeout', '5', '--properties', 'all').trim().split('\n').map((l) => JSON.parse(l).event);

async function exercise(client, m, authType) {
  const tag = m + ': ';

  // Output events: application properties, system properties, output name.
  for (let i = 1; i <= 2; i++) {
    const msg = new Message(JSON.stringify({ n: i, from: m }));
    msg.messageId = m + '-out-' + i;
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('alert', i === 1 ? 'high' : 'low');
    msg.properties.add('sensor kind', 'temp/°C');
    await within(client.sendOutputEvent('out' + i, msg), 10000, 'sendOutputEvent');
  }
  const evs = monitor(m, 2);
  assert.strictEqual(evs.length, 2, tag + 'monitor-events count');
  evs.forEach((ev, k) => {
    const i = k + 1;
    assert.strictEqual(ev.origin, DEV, tag + 'origin');
    assert.strictEqual(ev.module, m, tag + 'module field');
    assert.deepStrictEqual(ev.payload, { n: i, from: m }, tag + 'payload');
    assert.strictEqual(ev.annotations['iothub-connection-device-id'], DEV, tag + 'device id stamp');
    assert.strictEqual(ev.annotations['iothub-connection-module-id'], m, tag + 'module id stamp');
    const auth = JSON.parse(ev.annotations['iothub-connection-auth-method']);
    assert.deepStrictEqual([auth.scope, auth.type], ['module', authType], tag + 'auth method');
    assert.strictEqual(ev.properties.system['output-name'], 'out' + i, tag + 'output name');
    assert.strictEqual(ev.properties.system['message-id'], m + '-out-' + i, tag + 'message id');
    assert.strictEqual(ev.properties.system['content-type'], 'application/json', tag + 'content type');
    assert.strictEqual(ev.properties.system['content-encoding'], 'utf-8', tag + 'content encoding');
    assert.deepStrictEqual(ev.properties.application, { alert: i === 1 ? 'high' : 'low', 'sensor kind': 'temp/°C' },
      tag + 'application properties');
  });
  ok(tag + 'sendOutputEvent x2: monitor-events --module shows output name, message id, content type, '
    + 'application properties, module id and auth ' + authType + ' stamped');

  // Input message from 'module send-input' (stand-in for an IoT Edge route).
  const inputs = [];
  const completed = [];
  client.on('inputMessage', (name, msg) => {
    inputs.push({ name, msg });
    client.complete(msg).then((r) => completed.push(r), (e) => completed.push(e));
  });
  await waitFor(() => subscribed(m, 'inputs'), 10000, tag + 'input subscription accepted by localhub (module show)');
  cli('module', 'send-input', '--device', DEV, '--module', m, '--input', 'telemetry-in', '--data', 'input body ' + m,
    '--props', 'unit=celsius;route=r1;empty=');
  await waitFor(() => inputs.length >= 1, 10000, tag + 'inputMessage');
  const got = inputs[0];
  assert.strictEqual(got.name, 'telemetry-in', tag + 'input name');
  assert.strictEqual(got.msg.data.toString(), 'input body ' + m, tag + 'input body');
  assert.strictEqual(got.msg.properties.getValue('unit'), 'celsius', tag + 'input property unit');
  assert.strictEqual(got.msg.properties.getValue('route'), 'r1', tag + 'input property route');
  assert.strictEqual(got.msg.properties.count(), 3, tag + 'input property count');
  await waitFor(() => completed.length >= 1, 5000, tag + 'complete()');
  assert.ok(!(completed[0] instanceof Error), tag + 'complete failed: ' + completed[0]);
  assert.strictEqual(completed[0].constructor.name, 'MessageCompleted', tag + 'complete result');
  // Completed (PUBACKed) once: not delivered again.
  await sleep(1500);
  assert.strictEqual(inputs.length, 1, tag + 'input delivered ' + inputs.length + ' times');
  ok(tag + "inputMessage 'telemetry-in' with body and properties intact, completed, delivered once");

  // Module twin: desired set before, reported patch, desired push.
  const twin = await within(client.getTwin(), 10000, 'getTwin');
  assert.strictEqual(twin.properties.desired.mode, 'before-' + m, tag + 'desired in the full twin');
  const shownBefore = JSON.parse(cli('module', 'twin', 'show', '--device', DEV, '--module', m));
  assert.strictEqual(twin.properties.desired.$version, shownBefore.properties.desired.$version, tag + 'desired version');
  await within(new Promise((res, rej) => twin.properties.reported.update({ fw: m + '-1.2', nested: { a: 1, b: 'x' } },
    (e) => (e ? rej(e) : res()))), 10000, 'reported update');
  const shown = JSON.parse(cli('module', 'twin', 'show', '--device', DEV, '--module', m));
  assert.strictEqual(shown.properties.reported.fw, m + '-1.2', tag + 'reported fw');
  assert.deepStrictEqual(shown.properties.reported.nested, { a: 1, b: 'x' }, tag + 'reported nested');
  // the device's own twin is untouched
  const devTwin = JSON.parse(cli('twin', 'show', '--device', DEV));
  assert.strictEqual(devTwin.properties.reported.fw, undefined, tag + 'device twin got the module report');
  ok(tag + 'getTwin has the desired properties set before; reported patch visible in module twin show (not in the device twin)');

  const desired = [];
  twin.on('properties.desired', (d) => desired.push(d));
  await waitFor(() => subscribed(m, 'twin-desired'), 10000, tag + 'desired subscription');
  cli('module', 'twin', 'update', '--device', DEV, '--module', m, '--desired', JSON.stringify({ interval: 42, who: m }));
  const patch = await waitFor(() => desired.find((d) => d.interval === 42), 10000, tag + 'desired patch');
  assert.strictEqual(patch.who, m, tag + 'desired patch content');
  assert.strictEqual(patch.$version, shownBefore.properties.desired.$version + 1, tag + 'desired patch version');
  ok(tag + 'desired patch from module twin update reached the SDK (version ' + patch.$version + ')');

  // Direct method.
  const calls = [];
  client.onMethod('setLevel', (req, res) => {
    calls.push(req);
    res.send(201, { level: req.payload.level, by: m }, () => {});
  });
  await waitFor(() => subscribed(m, 'methods'), 10000, tag + 'method subscription');
  const r = JSON.parse(await cliAsync('module', 'method', 'invoke', '--device', DEV, '--module', m, '--name', 'setLevel',
    '--payload', '{"level":3}', '--timeout', '10'));
  assert.strictEqual(calls.length, 1, tag + 'method calls seen by the SDK');
  assert.deepStrictEqual(calls[0].payload, { level: 3 }, tag + 'method request payload');
  assert.strictEqual(r.status, 201, tag + 'method status');
  assert.deepStrictEqual(r.payload, { level: 3, by: m }, tag + 'method response payload');
  ok(tag + 'direct method setLevel answered (status 201, payload checked)');
}

// A connection attempt that must be refused: open() rejects (no hang) and the
// hub never lists the module as connected.
async function refused(client, m, what) {
  const t0 = Date.now();
  let err = null;
  try {
    await within(client.open(), 20000, what + ': open');
  } catch (e) {
    err = e;
  }
  try { await client.close(); } catch (e) { /* nothing open */ }
  assert.ok(err, what + ': open() succeeded');
  assert.ok(!/no answer within/.test(err.message), what + ': ' + err.message);
  assert.strictEqual(err.constructor.name, 'UnauthorizedError', what + ': ' + err.constructor.name + ' ' + err.message);
  assert.notStrictEqual(moduleShow(m).connectionState, 'Connected', what + ': module shown as connected');
  ok(what + ': refused with ' + err.constructor.name + ' (' + err.message + ') after ' + (Date.now() - t0) + ' ms');
}

async function sasModule() {
  const m = 'sdk-sas';
  const cs = cli('module', 'connection-string', '--device', DEV, '--module', m).trim();
  assert.match(cs, new RegExp('^HostName=' + HOST + ';DeviceId=' + DEV + ';ModuleId=' + m + ';SharedAccessKey=[A-Za-z0-9+/=]+$'), cs);
  cli('module', 'twin', 'update', '--device', DEV, '--module', m, '--desired', JSON.stringify({ mode: 'before-' + m }));
  const client = ModuleClient.fromConnectionString(cs, Mqtt);
  await within(client.open(), 15000, 'SAS module open');
  const shown = moduleShow(m);
  assert.strictEqual(shown.connectionState, 'Connected', 'module show after open: ' + JSON.stringify(shown));
  ok(m + ': ModuleClient.fromConnectionString (SAS) connected; module show says Connected');
  await exercise(client, m, 'sas');
  await client.close();
  await waitFor(() => moduleShow(m).connectionState !== 'Connected', 5000, m + ' shown disconnected after close');

  // A wrong key (well-formed, 32 random bytes): refused, no retry loop.
  const wrong = cs.replace(/SharedAccessKey=.*$/, 'SharedAccessKey=' + crypto.randomBytes(32).toString('base64'));
  await refused(ModuleClient.fromConnectionString(wrong, Mqtt), m, m + ' with a wrong module key');
  // An input queued while the module is offline waits for its next session;
  // the right key still connects after the refusal.
  cli('module', 'send-input', '--device', DEV, '--module', m, '--input', 'queued', '--data', 'sent while offline');
  const again = ModuleClient.fromConnectionString(cs, Mqtt);
  await within(again.open(), 15000, 'SAS module reopen');
  const late = [];
  again.on('inputMessage', (name, msg) => late.push([name, msg.data.toString()]));
  await waitFor(() => late.length >= 1, 10000, 'input queued while offline');
  assert.deepStrictEqual(late[0], ['queued', 'sent while offline'], 'queued input');
  await within(again.sendOutputEvent('after', new Message('after refusal')), 10000, 'send after refusal');
  assert.strictEqual(monitor(m, 3)[2].payload, 'after refusal', 'event after the refusal');
  await again.close();
  ok(m + ': the right key connects again; an input queued while offline arrives on the next session');
}

// The SDK's input filter (devices/{d}/modules/{m}/inputs/#) is accepted for
// the module itself only: with MQTT.js and the module's SAS token, the same
// filter for the other module, a wildcard module, the device's C2D and the
// other module's inputs under the C SDKs' filter are all refused (SUBACK
// 0x80), and an input for the other module does not arrive here.
async function rawFilters() {
  const m = 'sdk-sas';
  const token = cli('generate-sas-token', '--device', DEV, '--module', m).trim();
  assert.match(token, /^SharedAccessSignature /, token);
  const [host, port] = HOST.split(':');
  const c = mqtt.connect({
    protocol: 'mqtts', host, port: Number(port), protocolVersion: 4, clean: true, reconnectPeriod: 0,
    clientId: DEV + '/' + m, username: `${HOST}/${DEV}/${m}/?api-version=2021-04-12`, password: token,
    ca: fs.readFileSync(process.env.LOCALHUB_HOME + '/pki/root-ca.pem'), servername: host,
  });
  const got = [];
  c.on('message', (topic, payload) => got.push([topic, payload.toString()]));
  await within(new Promise((res, rej) => { c.once('connect', res); c.once('error', rej); }), 10000, 'raw connect');
  const filters = {
    [`devices/${DEV}/modules/${m}/inputs/#`]: 1,
    [`devices/${DEV}/modules/sdk-x509/inputs/#`]: 128,
    [`devices/${DEV}/modules/+/inputs/#`]: 128,
    [`devices/${DEV}/modules/sdk-x509/#`]: 128,
    [`devices/${DEV}/messages/devicebound/#`]: 128,
    [`devices/${DEV}/modules/${m}/inputs/+`]: 128,
  };
  for (const [f, want] of Object.entries(filters)) {
    const granted = await within(new Promise((res, rej) => c.subscribe(f, { qos: 1 }, (e, g) => (e ? rej(e) : res(g)))),
      10000, 'SUBSCRIBE ' + f);
    assert.strictEqual(granted[0].qos, want, 'SUBACK for ' + f);
  }
  cli('module', 'send-input', '--device', DEV, '--module', 'sdk-x509', '--input', 'other', '--data', 'not for sdk-sas');
  cli('module', 'send-input', '--device', DEV, '--module', m, '--input', 'mine', '--data', 'for sdk-sas');
  await waitFor(() => got.length >= 1, 10000, 'raw input');
  await sleep(500);
  assert.deepStrictEqual(got, [[`devices/${DEV}/modules/${m}/inputs/mine/`, 'for sdk-sas']], 'raw client inputs');
  await new Promise((res) => c.end(false, res));
  ok(m + ": raw MQTT.js: 'inputs/#' granted for its own module only (other module, '+' module, C2D refused); only its own input arrives");
}

// SAS tokens: a token from 'generate-sas-token --module' opens a ModuleClient
// (fromSharedAccessSignature) and the hub ends the session when it expires;
// with the SDK's token renewal the module keeps sending past the first
// token's expiry (the SDK reconnects with a fresh token, the hub takes it).
async function sasTokens() {
  const m = 'sdk-sas';
  const before = monitor(m, 3).length;
  const token = cli('generate-sas-token', '--device', DEV, '--module', m, '--duration', '4').trim();
  const se = Number(/[?&]se=(\d+)/.exec(token)[1]);
  const short = ModuleClient.fromSharedAccessSignature(token, Mqtt);
  await within(short.open(), 15000, 'open with a SAS token');
  await within(short.sendOutputEvent('tok', new Message('with a token')), 10000, 'send with a token');
  assert.strictEqual(monitor(m, before + 1)[before].payload, 'with a token', 'event sent with a SAS token');
  // The hub closes the connection when the token expires (the SDK emits no
  // event for a clean close); a later send cannot get through with the
  // expired token.
  await waitFor(() => moduleShow(m).connectionState !== 'Connected', 15000, m + ' session ended by the token expiry');
  const at = Date.now() / 1000;
  assert.ok(at >= se - 0.5, 'session ended ' + (se - at).toFixed(1) + ' s before the token expired');
  let sendErr = null;
  try {
    await within(short.sendOutputEvent('tok', new Message('after expiry')), 20000, 'send after expiry');
  } catch (e) {
    sendErr = e;
  }
  assert.ok(sendErr, 'a send with an expired token succeeded');
  assert.ok(!/no answer within/.test(sendErr.message), sendErr.message);
  try { await short.close(); } catch (e) { /* already closed */ }
  await sleep(300);
  assert.ok(!events().includes('after expiry'), 'an event with an expired token was stored');
  ok(m + ': fromSharedAccessSignature connected and sent; the hub ended the session when the token expired; '
    + 'a later send failed (' + sendErr.constructor.name + ': ' + sendErr.message + ')');

  const cs = cli('module', 'connection-string', '--device', DEV, '--module', m).trim();
  const client = ModuleClient.fromConnectionString(cs, Mqtt);
  await client.setOptions({ tokenRenewal: { tokenValidTimeInSeconds: 5, tokenRenewalMarginInSeconds: 3 } });
  const drops = [];
  client.on('disconnect', (e) => drops.push(e));
  const sessions0 = brokerSessions(m);
  const t0 = Date.now();
  await within(client.open(), 15000, 'open with token renewal');
  let n = 0;
  while (Date.now() - t0 < 7500) { // past the first token's 5 s
    await within(client.sendOutputEvent('renew', new Message('renewal ' + n++)), 10000, 'send across renewal');
    await sleep(500);
  }
  const evs = monitor(m, before + 1 + n).slice(before + 1);
  assert.deepStrictEqual(evs.map((e) => e.payload), [...Array(n).keys()].map((i) => 'renewal ' + i), 'events across renewal');
  assert.deepStrictEqual(drops, [], 'the SDK reported a disconnect');
  // the SDK renews by reconnecting with the new token (every 2 s here)
  const renewals = brokerSessions(m) - sessions0 - 1;
  assert.ok(renewals >= 2, 'sessions opened with renewed tokens: ' + renewals);
  assert.strictEqual(moduleShow(m).connectionState, 'Connected', 'module after renewal');
  await client.close();
  ok(m + ': ' + n + ' events over 7.5 s with 5 s tokens renewed by the SDK (' + renewals
    + ' reconnections with a new token), none lost, no disconnect');
  return n;
}

function x509Client(m, stem) {
  const x509 = { cert: fs.readFileSync(CERTS + '/' + stem + '.pem', 'utf8'), key: fs.readFileSync(CERTS + '/' + stem + '.key', 'utf8') };
  const cs = `HostName=${HOST};DeviceId=${DEV};ModuleId=${m};x509=true`;
  try {
    const client = ModuleClient.fromConnectionString(cs, Mqtt);
    client.setOptions(x509);
    return { client, how: 'fromConnectionString(x509=true) + setOptions' };
  } catch (e) {
    // azure-iot-device 1.18 throws NotImplementedError for a connection
    // string without SharedAccessKey ("ModuleClient only supports SAS Token
    // authentication"); an X.509 authentication provider with the module id
    // gives the same transport credentials.
    if (e.constructor.name !== 'NotImplementedError') throw e;
    const provider = new X509AuthenticationProvider({ host: HOST, deviceId: DEV, moduleId: m, x509 });
    return { client: ModuleClient.fromAuthenticationProvider(provider, Mqtt), how: 'fromAuthenticationProvider(X509AuthenticationProvider)' };
  }
}

async function x509Module() {
  const m = 'sdk-x509';
  const cs = cli('module', 'connection-string', '--device', DEV, '--module', m).trim();
  assert.strictEqual(cs, `HostName=${HOST};DeviceId=${DEV};ModuleId=${m};x509=true`, 'X.509 connection string');
  cli('module', 'twin', 'update', '--device', DEV, '--module', m, '--desired', JSON.stringify({ mode: 'before-' + m }));

  // The device's certificate (CN = node-edge) is not the module's.
  await refused(x509Client(m, 'device-cert').client, m, m + ' with the device certificate (CN node-edge)');

  const { client, how } = x509Client(m, 'module-x509');
  await within(client.open(), 15000, 'X.509 module open');
  assert.strictEqual(moduleShow(m).connectionState, 'Connected', 'module show after X.509 open');
  ok(m + ': X.509 module (CN node-edge/sdk-x509, verified CA) connected with ' + how);
  await exercise(client, m, 'x509Certificate');
  await client.close();
}

(async () => {
  await sasModule();
  await x509Module();
  const renewalEvents = await sasTokens();
  await rawFilters(); // last: it leaves an input queued for the (offline) sdk-x509
  // Nothing of either module reached the device's own telemetry stream.
  const devEvents = cli('--json', 'monitor-events', '--device', DEV, '--from-start', '--timeout', '1');
  const lines = devEvents.trim().split('\n').filter((l) => l).map((l) => JSON.parse(l).event);
  assert.strictEqual(lines.length, 6 + renewalEvents, 'device-wide event count');
  assert.ok(lines.every((e) => e.module === 'sdk-sas' || e.module === 'sdk-x509'), 'an event without module id');
  console.log('all Node SDK ModuleClient interop checks passed');
  process.exit(0);
})().catch((e) => { console.error('FAIL: ' + (e && e.stack ? e.stack : e)); process.exit(1); });
