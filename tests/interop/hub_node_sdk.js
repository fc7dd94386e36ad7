// Official Azure IoT Node.js device SDK (azure-iot-device + -mqtt, DPS over
// MQTT) against localhub, unchanged. Run by hub_node_sdk.sh, which starts the
// hub and passes: LOCALHUB (CLI path), LOCALHUB_HOME, HUBHOST (host:port),
// CERTDIR (device certificates made with openssl), SCOPE.
'use strict';
const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const assert = require('assert');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const ProvMqtt = require('azure-iot-provisioning-device-mqtt').Mqtt;
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const { X509Security } = require('azure-iot-security-x509');

const L = process.env.LOCALHUB, HOST = process.env.HUBHOST, CERTS = process.env.CERTDIR, SCOPE = process.env.SCOPE;
const cli = (...args) => execFileSync(L, args, { encoding: 'utf8' });
const cliAsync = (...args) => new Promise((res, rej) =>
  require('child_process').execFile(L, args, { encoding: 'utf8' }, (e, out, err) => (e ? rej(new Error(err)) : res(out))));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ok = (m) => console.log('ok - ' + m);
const waitFor = (pred, ms, what) => new Promise((res, rej) => {
  const t0 = Date.now();
  const tick = () => { const v = pred(); if (v) return res(v); if (Date.now() - t0 > ms) return rej(new Error('timeout: ' + what)); setTimeout(tick, 50); };
  tick();
});
const events = () => fs.readFileSync(process.env.LOCALHUB_HOME + '/telemetry.jsonl', 'utf8');

async function sasDevice() {
  const cs = cli('device', 'connection-string', '--id', 'node-sas').trim();
  assert.match(cs, /SharedAccessKey=/);
  const client = Client.fromConnectionString(cs, Mqtt);
  await client.open();
  ok('SAS device connected with the connection string');

  const msg = new Message(JSON.stringify({ temp: 22 }));
  msg.messageId = 'node-mid-1';
  msg.contentType = 'application/json';
  msg.contentEncoding = 'utf-8';
  msg.properties.add('source', 'node sdk');
  await client.sendEvent(msg);
  await waitFor(() => events().includes('"message-id":"node-mid-1"'), 3000, 'telemetry stored');
  const line = events().split('\n').find((l) => l.includes('node-mid-1'));
  assert.ok(line.includes('"source":"node sdk"') && line.includes('"content-type":"application/json"'), line);
  ok('telemetry with system and application properties');

  const c2d = [];
  client.on('message', (m) => { c2d.push(m); client.complete(m, () => {}); });
  await sleep(500);
  cli('c2d', 'send', '--device', 'node-sas', '--data', 'hello node', '--props', 'k1=v1', '--message-id', 'c2d-1');
  const got = await waitFor(() => c2d[0], 5000, 'C2D');
  assert.strictEqual(got.data.toString(), 'hello node');
  assert.strictEqual(got.messageId, 'c2d-1');
  assert.strictEqual(got.properties.getValue('k1'), 'v1');
  ok('C2D received with message id and properties, completed');

  const twin = await client.getTwin();
  await new Promise((res, rej) => twin.properties.reported.update({ fw: '3.0', obj: { a: 1 } }, (e) => (e ? rej(e) : res())));
  const shown = JSON.parse(cli('twin', 'show', '--device', 'node-sas'));
  assert.strictEqual(shown.properties.reported.fw, '3.0');
  ok('twin: reported properties updated by the SDK');
  const desired = [];
  twin.on('properties.desired', (d) => desired.push(d));
  await sleep(500);
  cli('twin', 'update', '--device', 'node-sas', '--desired', '{"interval":42}');
  await waitFor(() => desired.find((d) => d.interval === 42), 5000, 'desired push');
  ok('twin: desired property update pushed to the SDK');

  client.onDeviceMethod('reboot', (req, res) => {
    assert.deepStrictEqual(req.payload, { delay: 2 });
    res.send(200, { rebooted: true }, () => {});
  });
  await sleep(500);
  const r = JSON.parse(await cliAsync('method', 'invoke', '--device', 'node-sas', '--name', 'reboot', '--payload', '{"delay":2}', '--timeout', '10'));
  assert.strictEqual(r.status, 200);
  assert.deepStrictEqual(r.payload, { rebooted: true });
  ok('direct method answered by the SDK');
  await client.close();
}

async function x509Device() {
  const client = Client.fromConnectionString(`HostName=${HOST};DeviceId=node-x509;x509=true`, Mqtt);
  client.setOptions({ cert: fs.readFileSync(CERTS + '/node-x509.pem', 'utf8'), key: fs.readFileSync(CERTS + '/node-x509.key', 'utf8') });
  await client.open();
  await client.sendEvent(new Message('x509 hello'));
  await waitFor(() => events().includes('"payload":"x509 hello"'), 3000, 'x509 telemetry');
  ok('X.509 CA-signed device connected and sent telemetry');
  await client.close();
}

async function dpsSymmetric() {
  const groupKey = JSON.parse(cli('--json', 'dps', 'enrollment-group', 'show', '--group-id', 'node-sym')).primaryKey;
  const reg = 'node-dps-sym';
  const devKey = crypto.createHmac('sha256', Buffer.from(groupKey, 'base64')).update(reg, 'utf8').digest('base64');
  const sec = new SymmetricKeySecurityClient(reg, devKey);
  const prov = ProvisioningDeviceClient.create(HOST, SCOPE, new ProvMqtt(), sec);
  const result = await prov.register();
  assert.strictEqual(result.assignedHub, HOST);
  assert.strictEqual(result.deviceId, reg);
  ok('DPS symmetric-key group registration assigned ' + result.deviceId + ' to ' + result.assignedHub);
  const client = Client.fromConnectionString(`HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${devKey}`, Mqtt);
  await client.open();
  await client.sendEvent(new Message('from dps device'));
  await waitFor(() => events().includes('"payload":"from dps device"'), 3000, 'dps device telemetry');
  ok('provisioned device connected to the assigned hub');
  await client.close();
}

async function dpsX509() {
  const reg = 'node-dps-x509';
  const sec = new X509Security(reg, { cert: fs.readFileSync(CERTS + '/' + reg + '.pem', 'utf8'), key: fs.readFileSync(CERTS + '/' + reg + '.key', 'utf8') });
  const prov = ProvisioningDeviceClient.create(HOST, SCOPE, new ProvMqtt(), sec);
  const result = await prov.register();
  assert.strictEqual(result.deviceId, reg);
  ok('DPS X.509 group registration assigned ' + result.deviceId);
}

(async () => {
  await sasDevice();
  await x509Device();
  await dpsSymmetric();
  await dpsX509();
  console.log('all Node SDK interop checks passed');
  process.exit(0);
})().catch((e) => { console.error('FAIL: ' + (e && e.stack ? e.stack : e)); process.exit(1); });
