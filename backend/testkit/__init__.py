"""The test kit: what the test suites, the benchmarks, the image test and `make run` share, outside
the product.

- `testkit.fake_coingecko`: the fake CoinGecko upstream (a real HTTP server on 127.0.0.1);
- `testkit.processes`: free ports, servers started until they answer, bounded waits, plain GETs.
- `testkit.local_stack`: backend + nginx (or Vite's preview) on this machine: `make run` itself
  (`python -m testkit.local_stack`), and the stacks of the browser tests and the benchmarks.

Not packaged and in no image: pytest puts `backend/` on its path (pyproject's pytest settings);
anything else runs with `PYTHONPATH=backend`.
"""
