"""The paper's Fashion-MNIST grokking experiment (Pomarico et al. 2025, arXiv:2503.10483).

* :mod:`~mpsomics.experiments.fashion_mnist.data` -- the IDX reader, 6×6 area
  downsampling and the task draws;
* :mod:`~mpsomics.experiments.fashion_mnist.runs` -- one run per (task, seed), the
  summary and the comparison with the paper;
* :mod:`~mpsomics.experiments.fashion_mnist.report` -- the HTML page
  (``templates/fashion.html``, extending the report layer's ``base.html``).
"""
