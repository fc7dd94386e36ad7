#!/usr/bin/env bash
# localhub: a kick the CLI asks for (device disabled, deleted, credentials
# changed) is done even after a VACUUM of the registry (review REV16 of
# decision 22). The broker does a kick at once and deletes its row when the
# registry can be written without waiting; until then it must not do that
# row again. It remembered "rows up to rowid N are done", but kick_requests
# has no INTEGER PRIMARY KEY, so a VACUUM (an sqlite3 shell, maintenance)
# renumbers its rows: the next kick got a rowid <= N, was never done, and
# was deleted with the old rows, so a disabled device stayed connected.
. "$(dirname "$0")/hub_lib.sh"
hub_start
mk_ca root; ca_add_verified root
"$L" device create --id k1 --auth x509-ca >/dev/null; mk_leaf k1 k1 root
mqttc k1 $(x509_args k1) --timeout 40 sleep:30000 >"$T/k1.out" 2>&1 &
K1=$!
wait_state k1 Connected

# Kick rows the broker has done but could not delete: five rows for a device
# that is not connected, all but the last deleted (rowid 5), committed, and
# the registry locked at once for 1.5 s (the broker does the row and cannot
# delete it). Then a VACUUM renumbers the row to 1, and k1 is disabled.
# Tried again if the broker deleted the row in a gap between these steps.
python3 - "$LOCALHUB_HOME/registry.db" >"$T/vac.out" 2>&1 <<'PY' || fail "vacuum step: $(cat "$T/vac.out")"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
for attempt in range(10):
    db.execute('BEGIN IMMEDIATE')
    for i in range(5):
        db.execute("INSERT INTO kick_requests(device) VALUES('ghost')")
    db.execute('DELETE FROM kick_requests WHERE rowid < (SELECT max(rowid) FROM kick_requests)')
    before = db.execute('SELECT rowid FROM kick_requests').fetchall()
    db.execute('COMMIT')
    db.execute('BEGIN EXCLUSIVE')
    time.sleep(1.5)
    db.execute('ROLLBACK')
    db.execute('VACUUM')
    after = db.execute('SELECT rowid FROM kick_requests').fetchall()
    if len(after) == 1 and after[0][0] < before[0][0]:
        # k1 disabled at once, before the broker's next tick can delete the
        # row: what 'localhub device disable' writes (a CLI command waiting
        # for the VACUUM's lock writes just after it, racing the broker)
        db.execute('BEGIN IMMEDIATE')
        db.execute("UPDATE devices SET status='disabled' WHERE id='k1'")
        db.execute("INSERT INTO kick_requests(device) VALUES('k1')")
        db.execute('COMMIT')
        print('renumbered', before, after, db.execute('SELECT rowid,device FROM kick_requests').fetchall())
        sys.exit(0)
    db.execute('DELETE FROM kick_requests')
sys.exit('the broker deleted the row in a gap each time')
PY
grep -q renumbered "$T/vac.out" || fail "no renumbered kick row: $(cat "$T/vac.out")"

# k1 was disabled right after the VACUUM: its kick row got rowid 2, below
# the rows the broker has done.
for i in $(seq 1 50); do kill -0 $K1 2>/dev/null || break; sleep 0.1; done
kill -0 $K1 2>/dev/null && { kill $K1; fail "k1 disabled after a VACUUM renumbered the kick rows, still connected 5 s later"; }
wait $K1 && fail "k1's session ended without the hub closing it: $(cat "$T/k1.out")"
ok "a device disabled after a VACUUM renumbered the kick rows is disconnected"
[ "$("$L" --json device show k1 | grep_all -c '"Disconnected"')" -ge 1 ] ||
  fail "k1 not shown Disconnected: $("$L" --json device show k1)"
for i in $(seq 1 30); do
  [ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM kick_requests").fetchone()[0])' "$LOCALHUB_HOME/registry.db")" = 0 ] && break
  sleep 0.1
done
[ "$i" -lt 30 ] || fail "kick rows left in the registry"
ok "the kick rows done are deleted"
