"""The app's own routes (health, landing); adapters bring their routers."""
