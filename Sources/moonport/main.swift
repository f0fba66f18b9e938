import ArgumentParser

MoonportCommand.main()
