# Opt-in: run tradeops playbooks with Mitogen's strategy plugin, which keeps one Python
# process per host instead of sending every module afresh (~0.4 s per task here -> ~0.15 s).
#   . .venv/bin/activate && . scripts/mitogen.sh && ansible-playbook site.yml -i prod
#   make site MITOGEN=1 / make bench-site (times both)
# Long runs gain most (site.yml 91 s -> 41 s here); a short deploy does not: Mitogen's
# start-up costs more than it saves there. ansible-core marks third-party strategy plugins
# as deprecated, so this stays a choice, not the default.
_tradeops_mitogen=$(python3 -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))') || {
    echo "mitogen is not installed in this Python: pip install -r requirements-dev.txt (or make venv)" >&2
    return 1
}
export ANSIBLE_STRATEGY_PLUGINS="$_tradeops_mitogen/plugins/strategy"
export ANSIBLE_STRATEGY=mitogen_linear
# Mitogen does not pass Ansible's ControlPath to ssh; with one here its session rides on a
# shared master connection, so a run opens few new SSH connections (ufw limits them to a
# handful per 30 s; interpreter discovery through fresh connections would trip it).
mkdir -p "$HOME/.ansible/cp"
export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=120s -o ControlPath=~/.ansible/cp/mitogen-%C -o ServerAliveInterval=15"
unset _tradeops_mitogen
