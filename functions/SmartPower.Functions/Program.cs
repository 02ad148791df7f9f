using Microsoft.Extensions.Hosting;
using SmartPower.Functions;

// The Functions app: composition only (Services.cs).
var host = new HostBuilder()
    .ConfigureFunctionsWebApplication()
    .ConfigureServices((context, services) => services.AddSmartPower(context.Configuration))
    .Build();
await host.RunAsync();
