#!/bin/sh
# Runs inside the clean Debian 12 root (test/deploy/package.test.ts): install
# hosa 0.1.0, start the agent by hand (no systemd in a chroot), change the
# conffile, upgrade to 0.1.1, remove, purge. Prints "RESULT key=value".
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
r() { echo "RESULT $1=$2"; }
old=$1
new=$2
dpkg -i "$old" >/tmp/install1.log 2>&1
r install1 $?
r postinst_says "$(grep -c 'no systemd here' /tmp/install1.log)"
r version "$(hosa --version 2>&1)"
r libs "$(ldd /usr/bin/hosa | awk '{print $1}' | sed 's|.*/||' | sort | tr '\n' ' ')"
r conffiles "$(dpkg-query -W -f='${Conffiles}' hosa | awk '{print $1}' | tr '\n' ' ')"
r unit_exec "$(grep '^ExecStart=' /lib/systemd/system/hosa.service)"
r enabled "$(test -L /etc/systemd/system/multi-user.target.wants/hosa.service && echo yes || echo no)"
r dirs "$(test -d /var/lib/hosa && test -d /var/log/hosa && echo yes || echo no)"
r active_keys "$(grep -c '^[a-z_]* =' /etc/hosa/hosa.toml)"

# The operator's change, and an agent started by hand.
sed -i 's/^# metrics_listen = .*/metrics_listen = ""/' /etc/hosa/hosa.toml
hosa run >/var/log/hosa/agent.log 2>&1 &
agent=$!
i=0
while ! grep -q "running on" /var/log/hosa/agent.log 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
r agent_started "$(grep -c 'running on' /var/log/hosa/agent.log)"

dpkg -i "$new" >/tmp/install2.log 2>&1
r install2 $?
r version2 "$(dpkg-query -W -f='${Version}' hosa)"
r conffile_kept "$(grep -c '^metrics_listen = ""' /etc/hosa/hosa.toml)"
r agent_after_upgrade "$(kill -0 $agent 2>/dev/null && echo running || echo gone)"

dpkg -r hosa >/tmp/remove.log 2>&1
r remove $?
r prerm_says "$(grep -c "stopped the agent (pid $agent)" /tmp/remove.log)"
wait $agent
r agent_exit $?
r agent_after_remove "$(kill -0 $agent 2>/dev/null && echo running || echo gone)"
r agent_stopped_cleanly "$(grep -c 'stopped after' /var/log/hosa/agent.log)"
r binary_after_remove "$(test -e /usr/bin/hosa && echo present || echo gone)"
r conffile_after_remove "$(test -e /etc/hosa/hosa.toml && echo kept || echo gone)"

dpkg -P hosa >/tmp/purge.log 2>&1
r purge $?
r left "$(ls -d /etc/systemd/system/hosa.service /etc/hosa /var/lib/hosa /var/log/hosa /usr/share/hosa /usr/share/doc/hosa /lib/systemd/system/hosa.service /etc/systemd/system/hosa.service.d /etc/systemd/system/multi-user.target.wants/hosa.service /var/lib/systemd/deb-systemd-helper-enabled/hosa.service.dsh-also 2>/dev/null | tr '\n' ' ')"
r status "$(dpkg-query -W -f='${Status}' hosa 2>&1 | head -1)"
