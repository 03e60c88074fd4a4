# SPDX-License-Identifier: GPL-3.0-or-later
"""What each module ships to the host: the AnsiballZ payload built by ansible-core's own
machinery (module_common.modify_module, as a task does), and the module_utils inside it.

tcp_info must not carry the sysctl planner or the boot model: from sysctl/ only the two readers
it uses (procsys, portlist). The payload is built in a child process, where ansible-core's
collection finder is installed without touching this test run's imports.
"""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.modules import tcp_info

MODULES = ("tcp_info", "tcp_reset", "tcp_sysctl")
PREFIX = "ansible_collections/kerneltune/tcp/plugins/module_utils/"

# Runs in the child: argv = collection path, module names. Prints {module: [files in the zip]}.
BUILD = r"""
import base64, io, json, os, re, sys, zipfile
base = sys.argv[1]
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[base])._install()
from ansible.executor import module_common
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
out = {}
for name in sys.argv[2:]:
    path = os.path.join(base, "ansible_collections", "kerneltune", "tcp", "plugins", "modules", name + ".py")
    built = module_common.modify_module(module_name=name, module_path=path, module_args={},
                                        templar=Templar(loader=DataLoader()),
                                        task_vars={"ansible_python_interpreter": sys.executable})
    # ansible-core 2.17 and 2.18 return (data, style, shebang); 2.19 a _BuiltModule.
    data = built[0] if isinstance(built, tuple) else built.b_module_data
    # The zip is embedded base64-encoded (ZIPDATA in 2.17/2.18, zip_data in 2.19): "UEsDB" is its PK header.
    b64 = max(re.findall(rb"UEsDB[A-Za-z0-9+/=]+", data), key=len)
    out[name] = zipfile.ZipFile(io.BytesIO(base64.b64decode(b64))).namelist()
print(json.dumps(out))
"""


def _collection_path():
    # The tree the unit tests import from (tests/unit/conftest.py):
    # <base>/ansible_collections/kerneltune/tcp/plugins/modules/tcp_info.py
    base = tcp_info.__file__
    for _level in range(6):
        base = os.path.dirname(base)
    return base


def _tree(pkg):
    """The module files of a package of the collection's module_utils, as payload paths."""
    root = os.path.join(_collection_path(), PREFIX, pkg)
    return set(pkg + "/" + f for f in os.listdir(root) if f.endswith(".py") and f != "__init__.py")


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path_factory.mktemp("ansible-local")))
    out = subprocess.run([sys.executable, "-c", BUILD, _collection_path()] + list(MODULES), env=env,
                         stdout=subprocess.PIPE, check=True, timeout=300).stdout
    names = json.loads(out.decode().splitlines()[-1])
    return dict((m, set(n[len(PREFIX):] for n in names[m] if n.startswith(PREFIX) and not n.endswith("__init__.py")))
                for m in MODULES)


def test_tcp_info_ships_its_own_code_and_two_sysctl_readers(payloads):
    assert payloads["tcp_info"] == (_tree("sockets") | _tree("tcpinfo")
                                    | {"compile_once.py", "nat.py", "nftlink.py", "sysctl/procsys.py",
                                       "sysctl/portlist.py"})


def test_tcp_info_ships_nothing_else_from_sysctl(payloads):
    from_sysctl = sorted(f for f in payloads["tcp_info"] if f.startswith("sysctl/"))
    assert from_sysctl == ["sysctl/portlist.py", "sysctl/procsys.py"]


def test_tcp_reset_ships_sockets_and_tcpreset_only(payloads):
    got = payloads["tcp_reset"]
    assert _tree("tcpreset") <= got
    assert got - _tree("tcpreset") <= _tree("sockets") | {"compile_once.py"}
    assert {"sockets/netlink.py", "sockets/owners.py", "sockets/caps.py"} <= got


def test_every_module_ships_compile_once(payloads):
    # Each module imports it before the collection's other files (module_utils/compile_once.py).
    assert all("compile_once.py" in payloads[m] for m in MODULES)


def test_tcp_sysctl_ships_no_socket_diag_code(payloads):
    got = payloads["tcp_sysctl"]
    assert not [f for f in got if f.startswith(("tcpinfo/", "tcpreset/"))]
    assert "sysctl/procsys.py" in got


def test_tcp_sysctl_ships_what_it_imports_only_when_needed(payloads):
    # Imported inside functions (NAT detection, the listening sockets of the port range rule): the
    # module_utils finder still packs them.
    assert {"nat.py", "nftlink.py", "sockets/procnet.py", "sockets/owners.py"} <= payloads["tcp_sysctl"]


# Runs in the child: imports what tcp_sysctl imports at its start, prints the collection's modules then loaded.
LOADED = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task, transaction
print(json.dumps(sorted(m for m in sys.modules if m.startswith("ansible_collections.kerneltune"))))
"""


def test_tcp_sysctl_does_not_import_what_an_audit_does_not_run():
    # Ansible runs a module from a zip of sources: each module_utils imported is compiled on every run.
    out = subprocess.run([sys.executable, "-c", LOADED, _collection_path()], stdout=subprocess.PIPE, check=True,
                         timeout=60).stdout
    loaded = json.loads(out.decode().splitlines()[-1])
    for name in ("module_utils.nat", "module_utils.nftlink", "module_utils.sockets.procnet",
                 "module_utils.sockets.owners"):
        assert "ansible_collections.kerneltune.tcp.plugins." + name not in loaded
    assert "ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl.plan" in loaded


# The same for tcp_info: NAT detection is imported only when an answer depends on it.
LOADED_INFO = LOADED.replace("from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task, transaction",
                             "import ansible_collections.kerneltune.tcp.plugins.modules.tcp_info")


def test_tcp_info_does_not_import_nat_detection_at_start():
    out = subprocess.run([sys.executable, "-c", LOADED_INFO, _collection_path()], stdout=subprocess.PIPE, check=True,
                         timeout=60).stdout
    loaded = json.loads(out.decode().splitlines()[-1])
    assert "ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo.collect" in loaded
    for name in ("module_utils.nat", "module_utils.nftlink"):
        assert "ansible_collections.kerneltune.tcp.plugins." + name not in loaded
