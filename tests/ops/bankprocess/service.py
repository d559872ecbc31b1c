"""The kernel's bank test service as a `kopnet run` process (the supervisor needs
`service_class` and a config.yml beside the module): a stable RPC target with events."""
from tests.support.bankservice.service import BankService, definition

service_class = BankService
__all__ = ["definition", "service_class"]
