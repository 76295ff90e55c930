// Placeholder: the registry web page replaces this file.
