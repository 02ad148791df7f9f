using System.Text.Json;
using System.Text.Json.Serialization;
using SmartPower.Contract;

namespace SmartPower.Api;

/// <summary>The API's JSON, generated at build time: camelCase names, nulls written (as the contract writes <c>"port":null</c>).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    Converters = [typeof(EventTimeJsonConverter)],
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(SiteStatus))]
[JsonSerializable(typeof(AlertPage))]
[JsonSerializable(typeof(AlertDetail))]
[JsonSerializable(typeof(AlertView))]
[JsonSerializable(typeof(DeviceView))]
[JsonSerializable(typeof(ActRequest))]
[JsonSerializable(typeof(ApiKeyRequest))]
[JsonSerializable(typeof(CallerView))]
[JsonSerializable(typeof(ApiKeyView))]
[JsonSerializable(typeof(IReadOnlyList<ApiKeyView>))]
[JsonSerializable(typeof(IssuedApiKey))]
[JsonSerializable(typeof(IssuedDeviceToken))]
[JsonSerializable(typeof(Revocation))]
[JsonSerializable(typeof(StationSnapshot))]
[JsonSerializable(typeof(StationNotice))]
[JsonSerializable(typeof(Notifications.AlertDeliveriesResponse))]
public sealed partial class ApiJson : JsonSerializerContext;

/// <summary>Times as the contract writes them: RFC 3339 UTC with milliseconds (<c>2026-11-26T21:04:10.000Z</c>).</summary>
public sealed class EventTimeJsonConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDateTimeOffset();

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(EventTime.Format(value));
    }
}
