from clevagent_runner.cli import main

raise SystemExit(main())
