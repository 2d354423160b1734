from advkit.cli import main

raise SystemExit(main())
