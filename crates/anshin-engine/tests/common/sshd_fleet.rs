//! A one-host loopback fleet with a real OpenSSH sshd (tests/fleet/fleet.py), for the tests that
//! talk SSH to a real server. Needs root and Debian's /usr/bin/python3.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anshin_engine::ssh::SshTarget;

pub fn repo_root() -> PathBuf {
    // ANSHIN_REPO_ROOT: when this file is built outside the workspace.
    match std::env::var_os("ANSHIN_REPO_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap(),
    }
}

/// A one-host fleet (`web01`, sshd on `{net}.2:22`), torn down on drop.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub net: String,
    pub key: PathBuf,
    /// The folder with the files sshd reads as user anshin (authorized_keys).
    pub public: PathBuf,
}

impl Fleet {
    pub fn up(net: &str) -> Fleet {
        let dir = tempfile::Builder::new().prefix("anshin-ssh-test-").tempdir().unwrap();
        // sshd reads authorized_keys as user anshin: let it traverse the workdir.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut fleet = Fleet { dir, net: net.to_string(), key: PathBuf::new(), public: PathBuf::new() };
        fleet.fleet(&["up", "--dir", &fleet.path_str(), "--net", net, "--hosts", "web01:", "--no-sink"]);
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fleet.dir.path().join("fleet-state.json")).unwrap()).unwrap();
        fleet.key = PathBuf::from(state["key"].as_str().unwrap());
        fleet.public = PathBuf::from(state["pub"].as_str().unwrap());
        fleet
    }

    pub fn path_str(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    pub fn fleet(&self, args: &[&str]) -> String {
        let out = Command::new("/usr/bin/python3")
            .arg(repo_root().join("tests/fleet/fleet.py"))
            .args(args)
            .output()
            .expect("run tests/fleet/fleet.py with /usr/bin/python3");
        assert!(
            out.status.success(),
            "fleet.py {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ip(&self) -> IpAddr {
        format!("{}.2", self.net).parse().unwrap()
    }

    /// web01's `/srv` as its SSH sessions see it (a folder of the fleet's workdir).
    pub fn srv(&self) -> PathBuf {
        self.public.join("hosts/web01/srv")
    }

    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.path().join("hosts/web01/ssh_host_ed25519_key.pub")
    }

    pub fn target(&self, known_hosts: &Path, tofu: bool) -> SshTarget {
        SshTarget {
            host: "web01".into(),
            ip: self.ip(),
            port: 22,
            user: "anshin".into(),
            key_path: self.key.clone(),
            known_hosts: known_hosts.to_path_buf(),
            trust_on_first_use: tofu,
        }
    }

    pub fn stop_ssh(&self) {
        self.fleet(&["stop", &self.path_str(), "web01", "ssh"]);
    }

    pub fn start_ssh(&self) {
        self.fleet(&["start", &self.path_str(), "web01", "ssh"]);
    }

    /// Established TCP connections from anyone to this host's sshd (client side).
    pub fn ssh_connections(&self) -> usize {
        let out = Command::new("ss")
            .args(["-Htn", "state", "established", "dst", &format!("{}:22", self.ip())])
            .output()
            .expect("ss (iproute2)");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/python3")
            .arg(repo_root().join("tests/fleet/fleet.py"))
            .args(["down", "--dir", &self.path_str()])
            .output();
    }
}
