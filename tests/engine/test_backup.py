"""Backups, eligibility first (contract §7): a running `anshin serve` measures the backed-up
file systems in its resource poll (`df -Pk` / `df -Pi` of each included path, over the real
SSH session of the loopback fleet) and says per server whether it is backed up and why not,
with the numbers: a server above 500,000 inodes is refused, then accepted once below; a plan-30
server is not in the plan. (The runs themselves are not built yet: see README.)"""
import json

from test_fleet_reload import api, wait_for
from test_serve import OPERATOR, VIEWER, serving

NET = "127.78.92"


def df_script(used_inodes):
    """A `df` that answers like coreutils for / and any path: 2 GB used, `used_inodes` inodes."""
    return """case "$*" in
  *-Pi*) echo 'Filesystem      Inodes  IUsed   IFree IUse%% Mounted on'
         echo '/dev/vda1      1000000 %(inodes)d %(free)d %(pct)d%% /' ;;
  *) echo 'Filesystem     1024-blocks    Used Available Capacity Mounted on'
     echo '/dev/vda1         10000000 2000000   8000000      20%% /' ;;
esac
""" % {"inodes": used_inodes, "free": 1000000 - used_inodes, "pct": used_inodes // 10000}


def test_a_server_over_the_inode_limit_is_not_backed_up_and_says_why(fleet_factory, tmp_path):
    f = fleet_factory(NET, ["web01:http", "web02:http"])
    text = f.fleet_toml(interval_secs=1, attempts=3, timeout_secs=2, plan="150")
    ssh = 'ssh = { user = "anshin", key = %s, known_hosts = %s, trust_on_first_use = true }' % (
        json.dumps(f.key), json.dumps(str(tmp_path / "known_hosts")))
    text = text.replace("timeout_secs = 2\n", 'timeout_secs = 2\n%s\nbackup = { store = "backups" }\n' % ssh, 1)
    # web02 belongs to a plan-30 customer: no backups in its plan.
    blocks = text.split("\n\n")
    blocks = [b.replace('customer = "c1001"', 'customer = "c2002"') if 'label = "web02"' in b else b for b in blocks]
    text = "\n\n".join(blocks) + '\n[[customer]]\nid = "c2002"\nname = "三十商店"\nplan = "30"\nnotify = ["ops@c2.example.jp"]\n'
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    f.set_command("web01", "df", df_script(600000))
    with serving(str(path), tmp_path, "operator %s yamada\nviewer %s\n" % (OPERATOR, VIEWER)) as (port, _):
        def backup_of(label, code):
            s = next(s for s in api(port, "/api/v1/servers") if s["label"] == label)
            return s["backup"] if s["backup"] and s["backup"]["code"] == code else None

        refused = wait_for("web01 refused over the inode limit", lambda: backup_of("web01", "too_many_inodes"))
        assert refused["used_inodes"] == 600000, refused
        assert backup_of("web02", "not_in_plan"), "a plan-30 server has no backups"
        limits = api(port, "/api/v1/catalogue")["backup_limits"]
        assert limits == {"max_used_bytes": 50_000_000_000, "max_used_inodes": 500_000}

        f.set_command("web01", "df", df_script(120000))
        ok = wait_for("web01 backed up once below", lambda: backup_of("web01", "eligible"))
        assert ok["used_bytes"] == 2000000 * 1024 and ok["used_inodes"] == 120000, ok
