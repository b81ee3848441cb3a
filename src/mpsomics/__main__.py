from mpsomics.cli import main

raise SystemExit(main())
