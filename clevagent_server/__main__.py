from clevagent_server.cli import main

main()
