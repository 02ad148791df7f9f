using MQTTnet;
using MQTTnet.Protocol;
using SmartPower.Contract;

namespace SmartPower.Mqtt;

/// <summary>A device command as the MQTT message every sender publishes: the device's command topic, QoS 1.</summary>
internal static class CommandMessage
{
    public static MqttApplicationMessage For(DeviceCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return new MqttApplicationMessageBuilder().WithTopic(command.Topic).WithPayload(command.ToPayload())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
    }
}
