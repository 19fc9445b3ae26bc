# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
# Parallel HDF5 (h5py with MPI-IO): `make install-mpio` / `make test-mpio` (root or sudo: apt-get; see README "MPI").
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PATH := $(PATH)
export MPI_LIB_NRN_PATH := $(abspath $(VENV))/lib/libmpi.so.12
export PATH := $(abspath $(VENV))/bin:$(PATH)

# the MPI-IO venv: Debian's MPICH + parallel HDF5; mpi4py and h5py built against them, never the `mpich` wheel
MPIO_VENV ?= .venv-mpio
MPIO_PY := $(MPIO_VENV)/bin/python
MPIO_APT := libhdf5-mpich-dev pkg-config
SYSTEM_MPICC := /usr/bin/mpicc.mpich
SYSTEM_MPIEXEC := /usr/bin/mpiexec.mpich
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# recipes of the MPI-IO venv see its bin/ (mpiexec runs Debian's) and not the default venv's (the wheel's mpicc, mpiexec);
# its lib/libmpi.so.12 is a link to Debian's libmpich.so.12, the one MPI library of that venv
$(MPIO_VENV)/.installed-mpio test-mpio: export PATH := $(abspath $(MPIO_VENV))/bin:$(SYSTEM_PATH)
$(MPIO_VENV)/.installed-mpio test-mpio: export MPI_LIB_NRN_PATH := $(abspath $(MPIO_VENV))/lib/libmpi.so.12

# one MPI library in the MPI-IO venv: h5py has MPI, mpi4py loads the system MPICH, no `mpich` wheel
define MPIO_CHECK
import importlib.metadata as md, os, re, sys
import h5py
from mpi4py import MPI
maps = [line.split(maxsplit=5)[-1].strip() for line in open("/proc/self/maps")]
libs = sorted({os.path.realpath(p) for p in maps if re.search(r"/lib(mpi|mpich)\.so", p)})
want = [os.path.realpath(os.path.join(sys.prefix, "lib", "libmpi.so.12"))]
assert h5py.get_config().mpi, "h5py has no MPI"
assert libs == want, f"MPI libraries loaded: {libs}, expected {want}"
try:
    md.version("mpich")
    sys.exit("the `mpich` wheel is installed in this venv: pip uninstall mpich (two MPI libraries in one process)")
except md.PackageNotFoundError:
    pass
print(f"{sys.prefix}: h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}, MPI), mpi4py on {libs[0]}")
endef
export MPIO_CHECK

.PHONY: demo demo-neuron test test-mpi install-mpio test-mpio test-nrn8 install-nestmpi test-nestmpi format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[bmtk,netpyne,mpi,plot]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) examples/bmtk_network/run.py

demo-neuron: $(VENV)/.installed-demo
	$(PY) examples/neuron_standalone.py --out-dir output

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

# the default venv's MPI tests alone (CI runs them again once `install-mpio` has put a system MPICH on the machine)
test-mpi: $(VENV)/.installed-test
	$(PY) -m pytest -m mpi

install-mpio: $(MPIO_VENV)/.installed-mpio

# pip keeps the wheels it builds (--no-binary) in its cache: a second venv installs them in seconds. A cached
# wheel built without MPI is caught by the checks at the end and rebuilt once without the cache.
$(MPIO_VENV)/.installed-mpio: pyproject.toml
	@dpkg-query -W -f='$${Status}\n' libhdf5-mpich-dev 2>/dev/null | grep -q "install ok installed" \
	  && command -v pkg-config >/dev/null || { echo "apt-get install $(MPIO_APT) (Debian's MPICH, parallel HDF5)"; \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(MPIO_APT); }
	test -x $(MPIO_PY) || $(PYTHON) -m venv $(MPIO_VENV)
	printf '#!/bin/sh\n# Debian MPICH, the MPI of this venv (make install-mpio)\nexec %s "$$@"\n' $(SYSTEM_MPIEXEC) \
	  > $(MPIO_VENV)/bin/mpiexec && chmod +x $(MPIO_VENV)/bin/mpiexec
	ln -sf "$$(pkg-config --variable=libdir mpich)/libmpich.so.12" $(MPIO_VENV)/lib/libmpi.so.12
	test -e $(MPIO_VENV)/lib/libmpi.so.12
	$(MPIO_PY) -m pip install --quiet --upgrade pip
	$(MPIO_PY) -m pip install --quiet --upgrade numpy "cython>=3,<4" "pkgconfig>=1.5.5" "packaging>=23" "setuptools>=77"
	MPICC=$(SYSTEM_MPICC) $(MPIO_PY) -m pip install --quiet --no-binary=mpi4py mpi4py
	CC=$(SYSTEM_MPICC) HDF5_MPI=ON HDF5_PKGCONFIG_NAME=hdf5-mpich \
	  $(MPIO_PY) -m pip install --quiet --no-binary=h5py --no-build-isolation h5py
	$(MPIO_PY) -m pip install --quiet -e ".[bmtk,netpyne,plot,test-tools]"
	$(MPIO_PY) -c "import h5py, sys; sys.exit(not h5py.get_config().mpi)" || { \
	  echo "h5py has no MPI (installed or cached from a build without it?): rebuilding it without the cache"; \
	  CC=$(SYSTEM_MPICC) HDF5_MPI=ON HDF5_PKGCONFIG_NAME=hdf5-mpich $(MPIO_PY) -m pip install --quiet \
	    --no-binary=h5py --no-build-isolation --no-cache-dir --force-reinstall --no-deps h5py; }
	$(MPIO_PY) -c "$$MPIO_CHECK"
	touch $@

# MPI tests (-m mpi) and parallel-HDF5 tests (-m mpio) in the MPI-IO venv
test-mpio: $(MPIO_VENV)/.installed-mpio
	$(MPIO_PY) -m pytest -m "mpi or mpio"

# NetPyNE's LFP path on NEURON 8.2 too (docs/ecp.md: NEURON 9 and 8.2): NEURON 8.2's wheels need numpy < 2, so
# this venv has numpy 1.26 and a pandas built for it
NRN8_VENV ?= .venv-nrn8
$(NRN8_VENV)/.installed-nrn8: pyproject.toml
	$(PYTHON) -m venv $(NRN8_VENV)
	$(NRN8_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NRN8_VENV)/bin/python -m pip install --quiet -e ".[netpyne,test-tools]"
	$(NRN8_VENV)/bin/python -m pip install --quiet "neuron==8.2.6" "pandas>=2.2,<2.3"
	$(NRN8_VENV)/bin/python -c "import neuron, sys; sys.exit(not neuron.__version__.startswith('8.2'))"
	touch $@

test-nrn8: $(NRN8_VENV)/.installed-nrn8
	$(NRN8_VENV)/bin/python -m pytest -m "not mpi" tests/netpyne/test_lfp.py tests/netpyne/test_lfp_config.py

# BMTK PointNet on several ranks: the PyPI `nest-simulator` wheel has no MPI, so this venv builds NEST from its sdist
# with the venv's own `mpich` wheel (mpicc/mpicxx; nestkernel_api.so then finds <venv>/lib/libmpi.so.12 by its rpath).
# The built wheel is kept in $(NESTMPI_VENV)/nest-wheel: a second `make` (or a changed pyproject.toml) does not rebuild.
NESTMPI_VENV ?= .venv-nestmpi
NESTMPI_PY := $(NESTMPI_VENV)/bin/python
NEST_VERSION ?= 3.10.0
NESTMPI_WHEELS := $(NESTMPI_VENV)/nest-wheel
NESTMPI_CMAKE := -C cmake.define.with-mpi=ON -C cmake.define.with-openmp=ON -C cmake.define.with-boost=OFF \
  -C cmake.define.with-gsl=ON
NESTMPI_APT := cmake g++ make libgsl-dev
$(NESTMPI_VENV)/.installed-nestmpi test-nestmpi: export PATH := $(abspath $(NESTMPI_VENV))/bin:$(SYSTEM_PATH)
$(NESTMPI_VENV)/.installed-nestmpi test-nestmpi: export MPI_LIB_NRN_PATH := $(abspath $(NESTMPI_VENV))/lib/libmpi.so.12
$(NESTMPI_VENV)/.installed-nestmpi test-nestmpi: export PYNEST_QUIET := 1

# NEST of this venv loads the venv's libmpi.so.12 (and no other MPI library), from our build, not a PyPI wheel
define NESTMPI_CHECK
import importlib.metadata as md, os, re, subprocess, sys
import nest
if "aeif_cond_alpha" not in nest.node_models:
    sys.exit("nest was built without GSL (no conductance-based models): apt-get install libgsl-dev, rebuild")
maps = [line.split(maxsplit=5)[-1].strip() for line in open("/proc/self/maps")]
libs = sorted({os.path.realpath(p) for p in maps if re.search(r"/lib(mpi|mpich)\.so", p)})
want = [os.path.realpath(os.path.join(sys.prefix, "lib", "libmpi.so.12"))]
if libs != want:
    sys.exit(f"nest {nest.__version__} loads MPI libraries {libs}, expected {want}: it is not the MPI build "
             "(did pip replace it with the PyPI wheel? rm -rf $(NESTMPI_VENV) and make install-nestmpi again)")
so = [os.path.join(nest.__path__[0], f) for f in os.listdir(nest.__path__[0]) if f.endswith(".so")]
ldd = subprocess.run(["ldd", *so], capture_output=True, text=True, check=True, env={}).stdout
found = re.findall(r"libmpi\.so\.12 => (\S+)", ldd)
if not found or {os.path.realpath(p) for p in found} != set(want):
    sys.exit(f"ldd of {so} (no LD_LIBRARY_PATH) finds libmpi.so.12 at {found}, expected {want}")
print(f"{sys.prefix}: nest {nest.__version__} with MPI on {want[0]}")
endef
export NESTMPI_CHECK

install-nestmpi: $(NESTMPI_VENV)/.installed-nestmpi

$(NESTMPI_VENV)/.installed-nestmpi: pyproject.toml
	@dpkg-query -W -f='$${Status}\n' libgsl-dev 2>/dev/null | grep -q "install ok installed" && command -v cmake \
	  >/dev/null && command -v g++ >/dev/null && command -v make >/dev/null || { \
	  echo "apt-get install $(NESTMPI_APT) (to build NEST; GSL for its conductance-based models)"; \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(NESTMPI_APT); }
	test -x $(NESTMPI_PY) || $(PYTHON) -m venv $(NESTMPI_VENV)
	$(NESTMPI_PY) -m pip install --quiet --upgrade pip
	$(NESTMPI_PY) -m pip install --quiet mpich "mpi4py>=3.1" scikit-build-core "cython>=3" setuptools wheel numpy
	ls $(NESTMPI_WHEELS)/nest_simulator-$(NEST_VERSION)-*.whl >/dev/null 2>&1 || { \
	  rm -rf $(NESTMPI_VENV)/nest-build && mkdir -p $(NESTMPI_VENV)/nest-build \
	  && $(NESTMPI_PY) -m pip download --quiet --no-binary :all: --no-deps -d $(NESTMPI_VENV)/nest-build \
	    nest-simulator==$(NEST_VERSION) \
	  && CC=$(abspath $(NESTMPI_VENV))/bin/mpicc CXX=$(abspath $(NESTMPI_VENV))/bin/mpicxx \
	    CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(NESTMPI_PY) -m pip wheel --quiet --no-build-isolation --no-deps \
	    --no-cache-dir -w $(NESTMPI_VENV)/nest-build $(NESTMPI_CMAKE) \
	    $(NESTMPI_VENV)/nest-build/nest_simulator-$(NEST_VERSION).tar.gz \
	  && mkdir -p $(NESTMPI_WHEELS) && mv $(NESTMPI_VENV)/nest-build/nest_simulator-*.whl $(NESTMPI_WHEELS)/ \
	  && rm -rf $(NESTMPI_VENV)/nest-build; }
	$(NESTMPI_PY) -m pip install --quiet --force-reinstall --no-deps $(NESTMPI_WHEELS)/nest_simulator-$(NEST_VERSION)-*.whl
	$(NESTMPI_PY) -m pip install --quiet -e ".[pointnet,mpi,test-tools]" $(NESTMPI_WHEELS)/nest_simulator-$(NEST_VERSION)-*.whl
	$(NESTMPI_PY) -c "$$NESTMPI_CHECK"
	test "$$(mpiexec -n 2 $(NESTMPI_PY) -c 'import nest; print("NumProcesses", nest.NumProcesses())' \
	  | grep -c '^NumProcesses 2$$')" = 2 || { echo "mpiexec -n 2: NEST does not see 2 processes"; exit 1; }
	touch $@

# BMTK PointNet on 2 ranks (-m mpi) and on 1 rank, with MPI NEST
test-nestmpi: $(NESTMPI_VENV)/.installed-nestmpi
	$(NESTMPI_PY) -m pytest -m mpi tests/bmtk/pointnet
	$(NESTMPI_PY) -m pytest -m "not mpi" tests/bmtk/pointnet

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf output .pytest_cache .ruff_cache
